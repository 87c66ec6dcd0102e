"""Churn benchmark on Amazon Musical Instruments 5-core reviews (1,429 users, 2004-2014).

Churned = no review within the horizon after the cut-off. Protocol (temporal split):

* Horizon h = 180 days. Test cut-off T = last review - h = 2014-01-23 (labels: reviews up to
  2014-07-22). Calibration cut-off T - h. Six training cut-offs every 90 days ending one
  horizon before the calibration cut-off. Features read only reviews before their cut-off.
* Model family (logistic regression or gradient-boosted trees over recency, tenure,
  frequency windows, inter-review gaps, ratings, item popularity) chosen by rolling-origin
  validation before T; calibration fitted on the calibration window. Baselines: recency
  (days since the last review) and a logistic regression on recency / frequency / tenure.
* Two populations are reported. **all**: every user with a review before the cut-off.
  **min5**: users with at least 5 reviews before the cut-off. The data is 5-core filtered
  (every user has >= 5 reviews in the full file), so a user with fewer than 5 reviews at
  the cut-off is *guaranteed* to review again some day; frequency then predicts "not
  churned" by construction, which inflates AUC on **all**. **min5** removes that artefact
  and is the figure to quote for real logs.

Run from the repository root::

    .venv/bin/python benchmarks/churn_mi.py             # well under a minute
    .venv/bin/python benchmarks/churn_mi.py --horizon 365D --step 180D --n-train-cutoffs 3

Writes ``benchmarks/results/churn_mi.json`` (and ``churn_mi_reliability.png``).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.machine import file_sha256, write_report  # noqa: E402
from store.ingest import ingest  # noqa: E402
from store.workspace import Workspace  # noqa: E402
from predictors.evaluation.calibration import plot_reliability  # noqa: E402
from predictors.training.churn_trainer import (  # noqa: E402
    ChurnTrainConfig,
    ChurnTrainResult,
    train_churn,
)
from predictors.training.intent_trainer import MODEL_NAME  # noqa: E402

logger = logging.getLogger("churn_mi")

DATA_REL = Path(
    "shared/data/amazon_musical_instruments_2014_5core/reviews_Musical_Instruments_5.json.gz"
)
SOURCE = "musical_instruments"
REPORTED = ("auc", "auc_ci95", "pr_auc", "log_loss", "brier", "ece", "ece_quantile",
            "mean_predicted", "base_rate", "n", "n_positive")
POPULATIONS = {"all": 1, "min5": 5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="reviews_Musical_Instruments_5.json.gz")
    p.add_argument("--workspace", type=Path, default=None,
                   help="existing workspace with the source (default: ingest to a temp dir)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results/churn_mi.json")
    p.add_argument("--horizon", default="180D")
    p.add_argument("--step", default="90D", help="spacing of training cut-offs")
    p.add_argument("--n-train-cutoffs", type=int, default=6)
    p.add_argument("--test-cutoff", default=None, help="default: last review - horizon")
    p.add_argument("--calibration", default="auto", choices=["auto", "isotonic", "platt"])
    p.add_argument("--families", nargs="+", default=["logistic", "gbm"])
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def find_data(path: Path | None) -> Path:
    """The reviews file: explicit path, ``../shared`` next to the repo, or ``./shared``."""
    candidates = [path] if path else [REPO_ROOT.parent / DATA_REL, REPO_ROOT / DATA_REL]
    for cand in candidates:
        if cand is not None and cand.exists():
            return cand
    raise FileNotFoundError(f"Musical Instruments data not found in {candidates}")



def machine_info(threads: int) -> dict[str, Any]:
    """CPU model, cores, RAM, library versions and load, for the report."""
    import duckdb
    import sklearn

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "threads_used": threads,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "sklearn_version": sklearn.__version__,
        "duckdb_version": duckdb.__version__,
        "pandas_version": pd.__version__,
        "device": "cpu",
        "load_average_at_start": list(os.getloadavg()),
    }



def run_population(con: Any, args: argparse.Namespace, min_events: int) -> ChurnTrainResult:
    """Train + evaluate the churn model for users with at least `min_events` reviews."""
    cfg = ChurnTrainConfig(
        source=SOURCE,
        horizon=args.horizon,
        test_cutoff=args.test_cutoff,
        n_train_cutoffs=args.n_train_cutoffs,
        step=args.step,
        min_events=min_events,
        calibration=args.calibration,
        model_families=tuple(args.families),
        n_bootstrap=args.n_bootstrap,
        seed=args.seed,
        n_threads=args.threads,
        progress=not args.no_progress,
    )
    result = train_churn(con, cfg)
    r = result.result
    logger.info("min_events=%d: model (%s) AUC %.4f | recency AUC %.4f | logreg_rfm AUC %.4f",
                min_events, r.selection.get("family"), r.metrics[MODEL_NAME]["auc"],
                r.metrics["recency"]["auc"], r.metrics["logreg_rfm"]["auc"])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON report and reliability plot."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    wall = time.perf_counter()
    machine = machine_info(args.threads)
    data_path = find_data(args.data)
    with tempfile.TemporaryDirectory(prefix="churn_ws_") as tmp:
        ws_path = args.workspace
        if ws_path is None:
            ws_path = Path(tmp) / "ws"
            ingest("amazon", data_path, ws_path, source=SOURCE, progress=False)
        con = Workspace.open(ws_path).connect()
        try:
            stats = con.execute(
                "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id), "
                "CAST(min(ts) AS VARCHAR), CAST(max(ts) AS VARCHAR) FROM events "
                "WHERE source = $s", {"s": SOURCE}).fetchall()[0]
            results = {name: run_population(con, args, k) for name, k in POPULATIONS.items()}
        finally:
            con.close()
    plot_path = args.out.with_name(args.out.stem + "_reliability.png")
    keep = (MODEL_NAME, f"{MODEL_NAME}_uncalibrated", "recency", "logreg_rfm")
    plot_reliability({}, plot_path, panels={
        f"{name} users (test {r.plan.to_dict()['test'][:10]}, equal-mass bins)":
            {k: v for k, v in r.result.reliability.items() if k in keep}
        for name, r in results.items()
    })
    first = next(iter(results.values()))
    report = {
        "benchmark": "musical instruments churn (no review within the horizon), temporal split",
        "data": {
            "file": str(data_path),
            "sha256": file_sha256(data_path),
            "reviews": int(stats[0]),
            "users": int(stats[1]),
            "items": int(stats[2]),
            "first_review": stats[3],
            "last_review": stats[4],
        },
        "protocol": {
            "horizon": args.horizon,
            "train_cutoff_step": args.step,
            "cutoffs": first.plan.to_dict(),
            "label": "churned = no review in [cut-off, cut-off + horizon)",
            "populations": {
                "all": "every user with at least one review before the cut-off",
                "min5": "users with at least 5 reviews before the cut-off (removes the 5-core "
                        "artefact: users below 5 reviews are guaranteed to return eventually)",
            },
            "model_selection": "rolling-origin validation AUC on cut-offs before the test",
            "calibration": args.calibration,
            "baselines": {
                "recency": "days since the last review (higher = more likely churned)",
                "logreg_rfm": "logistic regression on days since last / first review, "
                              "review count, reviews in the last horizon",
            },
        },
        "machine": machine,
        "populations": {name: r.to_dict() for name, r in results.items()},
        "summary": {
            name: {
                "selected_family": r.result.selection.get("family"),
                "metrics": {s: {k: m.get(k) for k in REPORTED}
                            for s, m in r.result.metrics.items()},
                "model_auc_minus_recency_auc": r.result.comparisons["recency"],
                "model_beats_best_baseline_auc": r.result.model_beats_best_baseline,
            }
            for name, r in results.items()
        },
        "reliability_plot": str(plot_path.relative_to(REPO_ROOT)
                                if plot_path.is_relative_to(REPO_ROOT) else plot_path),
        "timings_s": {"wall_total": time.perf_counter() - wall,
                      **{f"{n}_total": r.timings_s["total"] for n, r in results.items()}},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    write_report(args.out, report)
    logger.info("wrote %s and %s", args.out, plot_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
