"""The harness the classifier benchmarks share (`churn_mi.py`, `intent_taobao.py`).

Their common command-line options, the start of a run (logging, machine, data file), the
workspace they train in (an existing one, or the raw file ingested into a temporary one), the
data section and headline metrics of the report, and writing it.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.machine import (
    REPO_ROOT,
    file_sha256,
    find_data,
    machine_info,
    peak_rss_mib,
    setup_logging,
    shown_path,
    write_report,
)
from store.ingest import ingest
from store.workspace import Workspace

REPORTED = ("auc", "auc_ci95", "pr_auc", "log_loss", "brier", "ece", "ece_quantile",
            "mean_predicted", "base_rate", "n", "n_positive")
"""The metrics of each scorer that a report's summary repeats."""


def add_io_args(p: argparse.ArgumentParser, *, data_help: str, workspace_help: str,
                out_name: str) -> None:
    """``--data``, ``--workspace`` and ``--out`` (default ``benchmarks/results/<out_name>``)."""
    p.add_argument("--data", type=Path, default=None, help=data_help)
    p.add_argument("--workspace", type=Path, default=None, help=workspace_help)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results" / out_name)


def add_model_args(p: argparse.ArgumentParser, families: list[str]) -> None:
    """``--calibration`` and ``--families`` (the model families compared by validation)."""
    p.add_argument("--calibration", default="auto", choices=["auto", "isotonic", "platt"])
    p.add_argument("--families", nargs="+", default=families)


def add_run_args(p: argparse.ArgumentParser) -> None:
    """``--n-bootstrap``, ``--threads`` and ``--seed``."""
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)


def classifier_machine(threads: int) -> dict[str, Any]:
    """CPU model, cores, RAM, library versions and load, for the report."""
    import duckdb
    import pandas as pd
    import sklearn

    return machine_info("cpu", runtime={"threads_used": threads}, libraries={
        "sklearn_version": sklearn.__version__,
        "duckdb_version": duckdb.__version__,
        "pandas_version": pd.__version__,
    })


def start(args: argparse.Namespace, data_rel: Path,
          what: str) -> tuple[float, dict[str, Any], Path]:
    """Logging on; the wall-clock start, the machine section and the data file (``--data``, or
    `data_rel` under ``../shared`` or ``./shared``; `what` names it in the error)."""
    setup_logging()
    wall = time.perf_counter()
    return wall, classifier_machine(args.threads), find_data(args.data, data_rel, what)


@contextmanager
def source_connection(fmt: str, data_path: Path, workspace: Path | None, source: str,
                      prefix: str) -> Iterator[Any]:
    """A connection to `workspace`, or to a temporary one with `data_path` ingested (format
    `fmt`) as `source`; closed, and the temporary workspace removed, on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        ws_path = workspace
        if ws_path is None:
            ws_path = Path(tmp) / "ws"
            ingest(fmt, data_path, ws_path, source=source, progress=False)
        con = Workspace.open(ws_path).connect()
        try:
            yield con
        finally:
            con.close()


def event_counts(con: Any, source: str, extra: str) -> tuple[Any, ...]:
    """Events, distinct users, distinct items and the `extra` SQL expressions over the events
    of `source`."""
    return con.execute(
        "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id), "
        f"{extra} FROM events WHERE source = $s", {"s": source}).fetchall()[0]


def data_section(data_path: Path, names: Sequence[str], counts: Sequence[Any]) -> dict[str, Any]:
    """The report's data section: the file, its sha256 and `counts` under `names`."""
    return {"file": str(data_path), "sha256": file_sha256(data_path),
            **dict(zip(names, counts, strict=True))}


def headline(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The REPORTED metrics of every scorer."""
    return {name: {k: m.get(k) for k in REPORTED} for name, m in metrics.items()}


def kept(reliability: dict[str, Any], keep: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The reliability curves of the scorers in `keep`, for a plot panel."""
    return {k: v for k, v in reliability.items() if k in keep}


def trainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The trainer settings both benchmarks take from the common options."""
    return {
        "calibration": args.calibration,
        "model_families": tuple(args.families),
        "n_bootstrap": args.n_bootstrap,
        "seed": args.seed,
        "n_threads": args.threads,
        "progress": not args.no_progress,
    }


def finish(report: dict[str, Any], out: Path, plot_path: Path, timings: dict[str, float],
           logger: logging.Logger) -> int:
    """Close the report (the plot's path, `timings`, peak memory), write it and log where."""
    report.update({"reliability_plot": shown_path(plot_path), "timings_s": timings,
                   "peak_rss_mib": peak_rss_mib()})
    write_report(out, report)
    logger.info("wrote %s and %s", out, plot_path)
    return 0
