"""In-process vs Ray (2 workers): users/s of `insight score` and texts/s of `insight index`.

Runs on the bundled real sample (ingested into a temporary workspace): a quick next-item model
is trained on one source (default beauty: 2,000 users, a softmax over 8,017 items), then the
source is scored by each engine and the scores compared; one collection's texts are embedded by
each engine into its own Chroma directory. Ray is started once (2 CPUs) before the timed runs,
as a cluster would be; its start-up is reported apart. The load average is recorded at the
start and the end (the machine may be shared).

    python -m benchmarks.ray_scaleout [--source beauty] [--collection reviews --index-source
    gift_cards] [--out benchmarks/results/ray_scaleout.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import REPO_ROOT, machine_info, setup_logging, write_report

log = logging.getLogger("ray_scaleout")


def _scores(root: Path, source: str) -> dict[str, list[str]]:
    from store.workspace import Workspace

    con = Workspace.open(root).connect()
    try:
        rows = con.execute("SELECT user_id, top_items FROM user_scores WHERE source = ?",
                           [source]).fetchall()
    finally:
        con.close()
    return {u: list(items or []) for u, items in rows}


def _score(root: Path, source: str, workers: int) -> dict[str, Any]:
    from predictors.pipeline import score_sources

    out: dict[str, Any] = {}
    for engine in ("local", "ray"):
        started = time.perf_counter()
        result = score_sources(root, [source], engine=engine, workers=workers)[source]
        seconds = time.perf_counter() - started
        out[engine] = {"users": result["users"], "seconds_total": round(seconds, 2),
                       "users_per_second_total": round(result["users"] / seconds, 1),
                       "seconds_scoring": result["seconds"],
                       "users_per_second_scoring": result["users_per_second"]}
        out[engine]["top_items"] = _scores(root, source)
    same = out["local"].pop("top_items") == out["ray"].pop("top_items")
    out["identical_top_items"] = same
    out["speedup_scoring"] = round(out["ray"]["users_per_second_scoring"]
                                   / out["local"]["users_per_second_scoring"], 2)
    return out


def _index(root: Path, collection: str, source: str, workers: int) -> dict[str, Any]:
    from core.settings import RetrievalSettings
    from retrieval.factory import create_indexer
    from retrieval.ray_index import create_ray_indexer
    from store.workspace import Workspace

    out: dict[str, Any] = {}
    for engine in ("local", "ray"):
        settings = RetrievalSettings().model_copy(deep=True)
        settings.chroma.path = root.parent / f"chroma-{engine}"
        build = create_indexer if engine == "local" else create_ray_indexer
        extra = {} if engine == "local" else {"workers": workers}
        indexer = build(settings, root, progress=False, **extra)
        con = Workspace.open(root).connect()
        started = time.perf_counter()
        report = indexer.run(con, sources=[source], collections=[collection])
        seconds = time.perf_counter() - started
        con.close()
        out[engine] = {"texts": report.embedded, "seconds": round(seconds, 2),
                       "texts_per_second": round(report.embedded / seconds, 1)}
    out["speedup"] = round(out["ray"]["texts_per_second"] / out["local"]["texts_per_second"], 2)
    return out


def main() -> None:
    """Train, score and index with both engines; write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="beauty")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--collection", default="reviews")
    parser.add_argument("--index-source", default="gift_cards")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path,
                        default=REPO_ROOT / "benchmarks/results/ray_scaleout.json")
    args = parser.parse_args()
    setup_logging()
    import ray

    from predictors.pipeline import TrainRequest, train_source
    from store.checkpoints import NEXT_ITEM
    from store.sample import ingest_sample

    load_start = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="ray-scaleout-") as tmp:
        root = Path(tmp) / "ws"
        ingest_sample(root)
        train_source(root, args.source, TrainRequest(kinds=(NEXT_ITEM,), quick=True,
                                                     epochs=args.epochs))
        started = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, configure_logging=False)
        ray_start = time.perf_counter() - started
        try:
            scoring = _score(root, args.source, args.workers)
            embedding = _index(root, args.collection, args.index_source, args.workers)
        finally:
            ray.shutdown()
    report = {
        "benchmark": "ray_scaleout",
        "data": {"workspace": "bundled sample (store/samples)", "score_source": args.source,
                 "index_collection": args.collection, "index_source": args.index_source},
        "ray": {"version": ray.__version__, "num_cpus": args.workers,
                "workers": args.workers, "startup_seconds": round(ray_start, 2)},
        "scoring": scoring,
        "embedding": embedding,
        "load_average_at_end": list(os.getloadavg()),
        "machine": machine_info("cpu", runtime={"torch_threads_per_actor": 1},
                                extra={"load_average_at_start": load_start}),
        "notes": "seconds_scoring covers staging, actor start and scoring, not ray.init; "
                 "seconds_total adds loading the models and the intent/churn/segment columns "
                 "(none trained here). Both engines run on the same 2 cores.",
    }
    write_report(args.out, report)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
