"""Audience backtest on the shared clickstreams: lift of the audience builder over random users,
recent viewers of the target and popularity.

For each source the real file is ingested into a scratch workspace and the predictors are
trained with ``insight train --quick`` settings. Targets are picked by rule, not by hand: the
two categories and (where the log has brands) the two brands with the most distinct users in
the log, and the ``convert-carts`` goal where an intent model
exists. For each target :func:`predictors.audience.build_audience` builds a top-K audience
(K = ``--size``) and its backtest (see :mod:`predictors.audience_backtest`: calibration cut
``T - h``, test cut ``T = last event - h``, next-item model trained on events before the
calibration cut).

Run from the repository root::

    .venv/bin/python benchmarks/audience_backtest.py                 # taobao and rees46
    .venv/bin/python benchmarks/audience_backtest.py --sources taobao --size 50

Writes ``benchmarks/results/audience_backtest.json``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script: the repository's packages

from benchmarks.machine import (  # noqa: E402
    file_sha256,
    machine_info,
    setup_logging,
    shown_path,
    write_report,
)
from benchmarks.machine import find_data as locate  # noqa: E402
from predictors.audience import AudienceOptions, AudienceTarget, build_audience  # noqa: E402
from predictors.features import source_span  # noqa: E402
from predictors.pipeline import TrainRequest, train_source  # noqa: E402
from store.ingest import ingest  # noqa: E402
from store.workspace import Workspace  # noqa: E402

logger = logging.getLogger("audience_backtest")

DATA = {
    "taobao": ("taobao",
               Path("shared/data/taobao_userbehavior_prefix/UserBehavior_prefix.csv.gz")),
    "rees46": ("rees46",
               Path("shared/data/rees46_multicategory_2019oct_head/2019-Oct_head.csv.gz")),
}
OUT = REPO_ROOT / "benchmarks" / "results" / "audience_backtest.json"


def busiest(ws: Workspace, source: str, column: str, before_us: int, n: int) -> list[str]:
    """The `n` values of `column` with the most distinct users before `before_us`."""
    con = ws.connect()
    try:
        rows = con.execute(
            f"SELECT {column}, count(DISTINCT user_id) u FROM events WHERE source = ? AND "
            f"{column} IS NOT NULL AND epoch_us(ts) < ? GROUP BY 1 ORDER BY u DESC, 1 LIMIT ?",
            [source, before_us, n]).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


def run_source(ws: Workspace, source: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train quickly, pick targets, build and backtest one audience per target."""
    started = time.perf_counter()
    trained = train_source(ws.root, source, TrainRequest(quick=True, seed=args.seed))
    train_s = time.perf_counter() - started
    con = ws.connect()
    try:
        last_us = int(source_span(con, source).max_us or 0)
    finally:
        con.close()
    targets = [AudienceTarget("category", c)
               for c in busiest(ws, source, "category", last_us, args.per_kind)]
    targets += [AudienceTarget("brand", b)
                for b in busiest(ws, source, "brand", last_us, args.per_kind)]
    if "skipped" not in trained.get("intent", {"skipped": ""}):
        targets.append(AudienceTarget("goal", "convert-carts"))
    results = []
    for target in targets:
        t0 = time.perf_counter()
        audience = build_audience(ws, source, target, AudienceOptions(
            size=args.size, backtest_epochs=args.backtest_epochs, seed=args.seed))
        data = audience.to_dict()
        data.pop("users")
        data["seconds"] = round(time.perf_counter() - t0, 1)
        if target.kind != "goal":  # ablation: the next-item mass alone, same cuts and model
            alone = build_audience(ws, source, target, AudienceOptions(
                size=args.size, backtest_epochs=args.backtest_epochs, seed=args.seed,
                signals=()))
            data["mass_only"] = {"calibration": alone.calibration,
                                 "backtest": alone.backtest.to_dict() if alone.backtest
                                 else None}
            logger.info("%s %s (mass only): %s", source, target.label,
                        _line(data["mass_only"]["backtest"]))
        logger.info("%s %s: %s", source, target.label, _line(data["backtest"]))
        results.append(data)
    return {"train_seconds": round(train_s, 1),
            "trained": {k: ("skipped: " + v["skipped"]) if isinstance(v, dict) and "skipped" in v
                        else "ok" for k, v in trained.items() if k != "source"},
            "targets": results}


def _line(bt: dict[str, Any] | None) -> str:
    if not bt:
        return "no backtest"
    return (f"p@{bt['k']} {bt['precision_at_k']:.3f} base {bt['base_rate']:.3f} lift "
            f"{bt['lift']} vs recent {bt['lift_vs_recent_viewers']} vs pop "
            f"{bt['lift_vs_popularity']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--size", type=int, default=100, help="audience size K")
    parser.add_argument("--per-kind", type=int, default=2, help="categories / brands per source")
    parser.add_argument("--backtest-epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workspace", type=Path, default=None,
                        help="scratch workspace (default: a temporary directory)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    setup_logging()
    scratch = tempfile.TemporaryDirectory(prefix="audience-bench-")
    root = args.workspace or Path(scratch.name) / "ws"
    report: dict[str, Any] = {
        "benchmark": "audience_backtest",
        "protocol": {
            "audience": "top K users by calibrated P(interacts with the target within h) "
                        "(goals: the intent model's P(buys a carted item within h))",
            "cuts": "test cut T = last event - h; calibration cut T - h; next-item model "
                    "trained on the events before T - h with the current checkpoint's "
                    "architecture (quick settings)",
            "lift": "precision@K / base rate (random users of the same population)",
            "lift_vs_recent_viewers": "precision@K / precision@K of the users who touched "
                                      "the target most recently (the rest by activity)",
            "lift_vs_popularity": "precision@K / precision@K of the most active users",
            "targets": "the categories and brands with the most distinct users; picked by "
                       "rule, not by their result",
            "mass_only": "the same audience with the next-item mass as the only signal "
                         "(no intent / churn / activity / recent-touch covariates)",
        },
        "sources": {},
    }
    try:
        for name in args.sources:
            kind, relative = DATA[name]
            path = locate(None, relative, name)
            ingest(kind, path, root, source=name)
            report["sources"][name] = {"data": shown_path(path),
                                       "sha256": file_sha256(path),
                                       **run_source(Workspace.open(root), name, args)}
    finally:
        scratch.cleanup()
    report["machine"] = machine_info("cpu", runtime={"size": args.size,
                                                    "backtest_epochs": args.backtest_epochs})
    write_report(args.out, report)
    logger.info("wrote %s", args.out)
    return report


if __name__ == "__main__":
    main()
