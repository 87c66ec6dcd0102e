"""Retrieval latency at 100k reviews: per-user retrieval and global semantic search.

Builds a Chroma collection of `--reviews` records from real review text: the reviews of a
workspace (the full Musical Instruments set when given, else the bundled sample) are embedded
once with the real model (vectors already stored by `insight index` in the workspace are
reused), then repeated with a small Gaussian perturbation of each vector (renormalised) until
the target size is reached. Copy `c` of user `u` becomes user `u#c`, so
users keep their real number of reviews. A Parquet file with (source, review_id, user_id, ts)
stands in for the workspace's `reviews` view, queried through DuckDB as in production.

Timed paths (after warm-up, `--queries` random users / questions each):

* per-user retrieval as implemented (`retrieval.search`): review ids from DuckDB, stored
  embeddings fetched by id, exact numpy ranking; with and without embedding the question;
* the same done with a Chroma metadata `where` filter, for comparison;
* global semantic search: unfiltered HNSW query, top 10.

Target: per-user retrieval p95 < 50 ms.

    python benchmarks/retrieval_latency.py [--workspace /tmp/ws_rag_full] [--reviews 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.machine import describe_machine, write_report  # noqa: E402
from core.settings import RetrievalSettings  # noqa: E402
from retrieval.chroma_store import ChromaStore  # noqa: E402
from retrieval.embedder import Embedder, create_embedder  # noqa: E402
from retrieval.search import rank_by_embedding, user_review_ids  # noqa: E402
from retrieval.store import REVIEWS  # noqa: E402
from store.workspace import Workspace  # noqa: E402

log = logging.getLogger("benchmarks.retrieval")
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_P95_MS = 50.0
QUESTIONS = [
    "strings broke quickly",
    "sound quality is great",
    "arrived damaged",
    "too expensive",
    "easy to set up",
    "cable stopped working",
    "would buy again",
    "noisy pedal",
    "good value for money",
    "the tuner is inaccurate",
    "gift card did not work",
    "comfortable strap",
    "poor customer service",
    "better than expected",
    "returned it",
    "stays in tune",
    "cheap plastic",
    "fast shipping",
    "microphone hum",
    "perfect for beginners",
]


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms)
    return {
        "n": int(arr.size),
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "mean_ms": round(float(arr.mean()), 3),
        "max_ms": round(float(arr.max()), 3),
    }


def _time(fn: Callable[[int], object], n: int, warmup: int = 10) -> list[float]:
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


def load_reviews(workspace: Path | None, tmp: Path) -> tuple[list[dict], str]:
    """Real reviews (id, user, item, rating, ts, text) from a workspace or the bundled sample."""
    if workspace is None:
        from store.sample import ingest_sample

        workspace = tmp / "sample_ws"
        ingest_sample(workspace)
        label = "bundled sample (store/samples/data)"
    else:
        label = str(workspace)
    con = Workspace.open(workspace).connect()
    rows = con.execute(
        "SELECT source, review_id, user_id, item_id, rating, CAST(epoch(ts) AS BIGINT), "
        "concat_ws(E'\\n', summary, text) FROM reviews ORDER BY review_id"
    ).fetchall()
    keys = ("source", "review_id", "user_id", "item_id", "rating", "ts", "text")
    return [dict(zip(keys, r, strict=True)) for r in rows], label


def real_vectors(
    reviews: list[dict], embedder: Embedder, workspace: Path | None
) -> tuple[np.ndarray, int]:
    """Embeddings of the real reviews: reused from the workspace's index where `insight index`
    already stored them (same model), embedded here otherwise. Returns (vectors, reused)."""
    vectors = np.zeros((len(reviews), embedder.dimension), dtype=np.float32)
    missing = list(range(len(reviews)))
    if workspace is not None and (workspace / "chroma").is_dir():
        index = ChromaStore.persistent(workspace / "chroma")
        position = {r["review_id"]: i for i, r in enumerate(reviews)}
        ids = list(position)
        for start in range(0, len(ids), 5000):
            got = index.get(REVIEWS, ids[start : start + 5000], with_embeddings=True)
            if got.embeddings is not None and got.embeddings.shape[1:] == (embedder.dimension,):
                for rid, vec in zip(got.ids, got.embeddings, strict=True):
                    vectors[position[rid]] = vec
                    position.pop(rid)
        missing = sorted(position.values())
    for start in tqdm(range(0, len(missing), 256), desc="embed reviews"):
        chunk = missing[start : start + 256]
        vectors[chunk] = embedder.embed([reviews[i]["text"] for i in chunk])
    return vectors, len(reviews) - len(missing)


def build(
    store: ChromaStore,
    reviews: list[dict],
    vectors: np.ndarray,
    target: int,
    parquet: Path,
    noise: float,
    seed: int,
) -> int:
    """Upsert `target` records (real + perturbed copies); write the id/user Parquet file."""
    rng = np.random.default_rng(seed)
    copies = -(-target // len(reviews))
    ids, users, sources, ts = [], [], [], []
    bar = tqdm(total=target, desc="build collection", unit="doc")
    batch = 5000
    buffer: dict[str, list] = {"ids": [], "emb": [], "doc": [], "meta": []}

    def flush() -> None:
        if buffer["ids"]:
            store.upsert(
                REVIEWS, buffer["ids"], np.vstack(buffer["emb"]), buffer["doc"], buffer["meta"]
            )
            bar.update(len(buffer["ids"]))
            for key in buffer:
                buffer[key] = []

    made = 0
    for copy in range(copies):
        base = vectors if copy == 0 else vectors + rng.normal(0, noise, vectors.shape)
        base = (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)
        for row, vec in zip(reviews, base, strict=True):
            if made >= target:
                break
            rid, user = f"{row['review_id']}#{copy}", f"{row['user_id']}#{copy}"
            meta = {"source": row["source"], "user_id": user, "item_id": row["item_id"]}
            if row["rating"] is not None:
                meta["rating"] = float(row["rating"])
            if row["ts"] is not None:
                meta["ts"] = int(row["ts"])
            buffer["ids"].append(rid)
            buffer["emb"].append(vec[None, :])
            buffer["doc"].append(row["text"])
            buffer["meta"].append(meta)
            ids.append(rid)
            users.append(user)
            sources.append(row["source"])
            ts.append(row["ts"])
            made += 1
            if len(buffer["ids"]) >= batch:
                flush()
    flush()
    bar.close()
    pq.write_table(
        pa.table(
            {"source": sources, "review_id": ids, "user_id": users, "ts": pa.array(ts, pa.int64())}
        ),
        parquet,
    )
    return made


def main() -> None:
    """Build the collection, time the queries, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="Workspace with reviews (default: the bundled sample).",
    )
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--filtered-queries", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "retrieval_latency.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    tmp = Path(tempfile.mkdtemp(prefix="retrieval-bench-"))
    try:
        settings = RetrievalSettings()
        embedder = create_embedder(settings)
        reviews, label = load_reviews(args.workspace, tmp)
        started = time.perf_counter()
        vectors, reused = real_vectors(reviews, embedder, args.workspace)
        embed_s = time.perf_counter() - started
        store = ChromaStore.persistent(tmp / "chroma")
        started = time.perf_counter()
        parquet = tmp / "reviews.parquet"
        total = build(store, reviews, vectors, args.reviews, parquet, args.noise, args.seed)
        build_s = time.perf_counter() - started
        con = duckdb.connect()
        con.execute(
            f"CREATE VIEW reviews AS SELECT source, review_id, user_id, "
            f"to_timestamp(ts) AS ts FROM read_parquet('{parquet}')"
        )

        rng = np.random.default_rng(args.seed + 1)
        pairs = con.execute("SELECT DISTINCT source, user_id FROM reviews ORDER BY ALL").fetchall()
        picks = [pairs[i] for i in rng.integers(0, len(pairs), args.queries + 20)]
        qvecs = embedder.embed(QUESTIONS)
        sizes = [len(user_review_ids(con, s, u)) for s, u in picks]

        def per_user(i: int) -> object:
            source, user = picks[i]
            ids = user_review_ids(con, source, user)
            return rank_by_embedding(store, REVIEWS, ids, qvecs[i % len(QUESTIONS)], 8)

        def per_user_with_embedding(i: int) -> object:
            source, user = picks[i]
            qvec = embedder.embed([QUESTIONS[i % len(QUESTIONS)]])[0]
            return rank_by_embedding(store, REVIEWS, user_review_ids(con, source, user), qvec, 8)

        def per_user_where(i: int) -> object:
            source, user = picks[i]
            return store.query(
                REVIEWS,
                qvecs[i % len(QUESTIONS)],
                8,
                where={"$and": [{"source": source}, {"user_id": user}]},
            )

        def global_search(i: int) -> object:
            return store.query(REVIEWS, qvecs[i % len(QUESTIONS)], 10)

        def embed_only(i: int) -> object:
            return embedder.embed([QUESTIONS[i % len(QUESTIONS)]])

        # Same answer both ways (a check that the fast path is the right one).
        for i in range(5):
            fast = [h.id for h in per_user(i)]
            slow = [h.id for h in per_user_where(i)]
            if set(fast) != set(slow):
                log.warning(
                    "fast and where-filtered results differ for %s: %s vs %s", picks[i], fast, slow
                )

        results = {
            "per_user_retrieval": _percentiles(_time(per_user, args.queries)),
            "per_user_retrieval_incl_query_embedding": _percentiles(
                _time(per_user_with_embedding, args.queries)
            ),
            "per_user_chroma_where_filter": _percentiles(
                _time(per_user_where, args.filtered_queries)
            ),
            "global_search_top10": _percentiles(_time(global_search, args.queries)),
            "query_embedding": _percentiles(_time(embed_only, args.queries)),
        }
        p95 = results["per_user_retrieval"]["p95_ms"]
        report = {
            "benchmark": "retrieval_latency",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": describe_machine(),
            "input": {
                "records": total,
                "real_reviews": len(reviews),
                "reviews_from": label,
                "copies": -(-args.reviews // len(reviews)),
                "vector_noise_sd": args.noise,
                "real_vectors_reused_from_index": reused,
                "embedding_model": settings.embedding_model,
                "dimension": embedder.dimension,
                "vector_store": "chroma PersistentClient (hnsw, cosine)",
                "users": len(pairs),
                "reviews_per_sampled_user": {
                    "mean": round(float(np.mean(sizes)), 2),
                    "max": int(np.max(sizes)),
                },
                "k": 8,
            },
            "build": {
                "embed_or_load_real_reviews_s": round(embed_s, 1),
                "upsert_all_records_s": round(build_s, 1),
            },
            "result": results,
            "targets": {"per_user_retrieval_p95_ms": TARGET_P95_MS},
            "passed": p95 < TARGET_P95_MS,
            "method": "per-user: DuckDB review ids -> collection.get(ids, embeddings) -> numpy "
            "dot product, exact top-k; global: unfiltered HNSW query",
        }
        write_report(args.out, report)
        log.info(
            "per-user p50 %.1f ms, p95 %.1f ms (target < %.0f ms); global p95 %.1f ms; "
            "where-filter p95 %.1f ms",
            results["per_user_retrieval"]["p50_ms"],
            p95,
            TARGET_P95_MS,
            results["global_search_top10"]["p95_ms"],
            results["per_user_chroma_where_filter"]["p95_ms"],
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
