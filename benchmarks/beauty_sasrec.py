"""Amazon Beauty 2014 (S3-Rec file) next-item benchmark: SASRec vs baselines vs published anchors.

Protocol: leave-one-out (last item = test, second-to-last = validation, rest = training),
full ranking over all 12,101 items, padding excluded. Two rankings are reported for every
model: with the user's history items masked ("*_filtered", what the S3-Rec and RecBole
reference code behind the published anchors does, so the floor is judged on it) and without
("test", stricter, shown beside it). Early stopping uses validation NDCG@10 only; test is
evaluated once per seed. With ``--refit`` (default) a second model per seed is trained on
train + validation items for the selected epoch count and tested once more ("test_refit*").

Default recipe: the library's `NextItemOptions` (predictors/training/recipe.py), the same
settings and config builders `insight train` uses — SASRec d=64, 2 pre-LN blocks, 1 head,
dropout 0.3, max_len 50; on Beauty's 12,101 items the data-size rule picks a sampled softmax
with 2048 popularity negatives and logQ correction; AdamW lr 1e-3 with 5x lr on embedding
tables, batch 32, lr x0.3 on a validation plateau, early stopping patience 3, at most 30
epochs / 15 min per seed.

Run from the repository root:

    .venv/bin/python benchmarks/beauty_sasrec.py --seeds 0 1 2          # full benchmark
    .venv/bin/python benchmarks/beauty_sasrec.py --quick                # smoke run, ~1 min
    nohup .venv/bin/python benchmarks/beauty_sasrec.py --seeds 0 1 2 \\
        > benchmarks/results/beauty_sasrec.log 2>&1 &

    .venv/bin/python benchmarks/beauty_sasrec.py --resummarize benchmarks/results/beauty_sasrec.json
                                 # recompute summary / floor / anchor comparison from stored runs

The report goes to ``benchmarks/results/beauty_sasrec.json`` (``--quick`` writes to
``benchmarks/tmp/`` unless ``--out`` is given). ``--help`` lists every hyperparameter.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import sys
import time
from pathlib import Path

# OpenMP waiting is left as `insight train` gets it (the runtime's default), so the timings are
# the shipped recipe's. On a CPU shared with other jobs, spinning worker threads slow training
# down several-fold: there run it with OMP_WAIT_POLICY=PASSIVE (machine.omp_wait_policy).
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.machine import (  # noqa: E402
    file_sha256,
    find_data,
    machine_info,
    peak_rss_mib,
    setup_logging,
    write_report,
)
from benchmarks.sasrec_runs import (  # noqa: E402
    make_model_config,
    make_train_config,
    run_baselines,
    run_seed,
    split_data,
)
from benchmarks.sasrec_verdict import (  # noqa: E402
    HISTORY_FILTERING,
    log_verdict,
    mean_std,
    resummarize,
    summarize_runs,
)
from predictors.sequences import IdVocab  # noqa: E402
from predictors.training.recipe import NextItemOptions  # noqa: E402

logger = logging.getLogger("beauty_sasrec")

DATA_REL = Path("shared/data/amazon_beauty_2014_5core/s3rec_Beauty.txt.gz")
EXPECTED = {"users": 22_363, "items": 12_101, "interactions": 198_502}


RECIPE = NextItemOptions()
"""The library's defaults: what `insight train` ships is what this benchmark measures."""
ARCHITECTURE: dict[str, int | float] = {
    "max-len": RECIPE.max_len, "d-model": RECIPE.d_model, "n-layers": RECIPE.n_layers,
    "n-heads": RECIPE.n_heads, "ff-mult": RECIPE.ff_mult, "dropout": RECIPE.dropout}
"""Numeric architecture options and their defaults (the recipe of predictors/training/recipe.py)."""
OPTIMIZATION: dict[str, int | float] = {
    "lr": RECIPE.lr, "embedding-lr-mult": RECIPE.embedding_lr_mult,
    "weight-decay": RECIPE.weight_decay, "batch-size": RECIPE.batch_size,
    "max-epochs": RECIPE.max_epochs, "patience": RECIPE.patience,
    "lr-plateau-factor": RECIPE.lr_plateau_factor if RECIPE.lr_plateau_factor is not None else 1.0,
    "lr-plateau-patience": RECIPE.lr_plateau_patience}
"""Numeric optimisation and early-stopping options and their defaults."""


def add_numbers(p: argparse.ArgumentParser, defaults: dict[str, int | float]) -> None:
    """One ``--name`` option per entry, of its default's type."""
    for name, default in defaults.items():
        p.add_argument(f"--{name}", type=type(default), default=default)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (architecture, training and run control)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="path to s3rec_Beauty.txt.gz")
    p.add_argument("--out", type=Path, default=None, help="JSON report path")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="smoke run: 3k users, 2 epochs, 1 seed")
    add_numbers(p, ARCHITECTURE)
    p.add_argument("--attn-dropout", type=float, default=None)
    p.add_argument("--loss", choices=["auto", "full", "sampled"], default=RECIPE.loss)
    p.add_argument("--n-negatives", type=int, default=RECIPE.n_negatives)
    p.add_argument("--negative-sampling", choices=["uniform", "popularity"],
                   default=RECIPE.negative_sampling)
    add_numbers(p, OPTIMIZATION)
    p.add_argument("--max-train-minutes", type=float, default=RECIPE.max_train_minutes,
                   help="per-seed time cap")
    p.add_argument("--eval-every", type=int, default=1, help="validate every N epochs")
    p.add_argument("--skip-baselines", action="store_true", help="for tuning runs")
    p.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also retrain on train+valid for the selected number of epochs and test that model",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--resummarize",
        type=Path,
        default=None,
        metavar="REPORT",
        help="recompute summary / floor / anchors of a stored report from its runs, no training",
    )
    return p.parse_args(argv)


def load_sequences(path: Path) -> tuple[list[str], list[list[str]]]:
    """Read ``user item item ...`` lines (chronological) into user ids and raw item ids."""
    users, seqs = [], []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2:
                users.append(parts[0])
                seqs.append(parts[1:])
    return users, seqs


def sasrec_machine(device: str) -> dict[str, object]:
    """CPU model, cores, RAM, torch version and device for the report."""
    gpu = {"gpu": torch.cuda.get_device_name(0)} if device.startswith("cuda") else {}
    return machine_info(
        device,
        runtime={"torch_threads": torch.get_num_threads(), "torch_version": torch.__version__},
        extra={"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), **gpu},
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON report."""
    args = parse_args(argv)
    setup_logging()
    if args.resummarize is not None:
        return resummarize(args.resummarize)
    wall_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    data_path = find_data(args.data, DATA_REL, "Beauty")
    raw_users, raw_seqs = load_sequences(data_path)
    vocab = IdVocab.from_sequences(raw_seqs)
    seqs = [vocab.encode(s) for s in raw_seqs]
    stats = {
        "users": len(seqs),
        "items": len(vocab),
        "interactions": sum(len(s) for s in seqs),
        "file": str(data_path),
        "sha256": file_sha256(data_path),
    }
    logger.info("loaded %s", stats)
    if any(stats[k] != v for k, v in EXPECTED.items()):
        logger.warning("data statistics differ from the published %s", EXPECTED)

    seeds = args.seeds
    max_epochs = args.max_epochs
    if args.quick:
        rng = np.random.default_rng(0)
        keep = np.sort(rng.choice(len(seqs), size=min(3000, len(seqs)), replace=False))
        seqs = [seqs[i] for i in keep]
        seeds = seeds[:1]
        max_epochs = min(max_epochs, 2)
    out_path = args.out or (
        REPO_ROOT
        / "benchmarks"
        / ("tmp/beauty_sasrec_quick.json" if args.quick else "results/beauty_sasrec.json")
    )
    split, stats["target_in_history"] = split_data(seqs)
    n_items = len(vocab)
    logger.info(
        "split: %d train sequences, %d valid, %d test users, %d items",
        len(split.train),
        len(split.valid),
        len(split.test),
        n_items,
    )
    model_cfg = make_model_config(args, n_items)
    baselines = {} if args.skip_baselines else run_baselines(split, n_items, args.max_len)

    # Refit data: each user's sequence up to (and including) the validation item.
    refit_train = [list(seq[:-1]) if len(seq) >= 3 else list(seq) for seq in seqs]
    runs = []
    device_name = "cpu"
    for seed in seeds:
        run, device_name = run_seed(args, model_cfg, split, refit_train, seed, max_epochs)
        runs.append(run)

    summary, verdict = summarize_runs(runs)
    report = {
        "benchmark": "amazon_beauty_2014_5core next-item, leave-one-out, full ranking",
        "quick": args.quick,
        "protocol": {
            "split": "leave-one-out: train seq[:-2]; valid predicts seq[-2] from seq[:-2]; "
            "test predicts seq[-1] from seq[:-1]",
            "ranking": f"full ranking over all {n_items} items, padding excluded, ties pessimistic",
            "history_filtering": HISTORY_FILTERING,
            "model_selection": "early stopping on validation NDCG@10; test evaluated once",
            "refit": "'test_refit*': a fresh model (same seed and hyperparameters) trained on "
            "seq[:-1] (train + validation item) for the best epoch count found on validation, "
            "then tested once; absent with --no-refit",
            "std": "sample standard deviation over seeds",
        },
        "data": stats,
        "machine": sasrec_machine(device_name),
        "hyperparameters": {
            "model": model_cfg.to_dict(),
            "training": {
                k: v
                for k, v in make_train_config(args, seed=0, max_epochs=max_epochs,
                                              n_items=n_items,
                                              train=split.train).to_dict().items()
                if k not in ("seed", "progress")
            },
            "seeds": seeds,
        },
        "runs": runs,
        "summary": summary,
        "baselines": baselines,
        **verdict,
        "cost": {
            "mean_epoch_seconds": mean_std([r["mean_epoch_seconds"] for r in runs]),
            "best_epoch": [r["best_epoch"] for r in runs],
            "time_to_best_s": mean_std([r["time_to_best_s"] for r in runs]),
            "train_total_s": mean_std([r["train_total_s"] for r in runs]),
            "refit_train_s": [r.get("refit_train_s") for r in runs],
            "scoring_users_per_s": mean_std([r["scoring"]["users_per_s"] for r in runs]),
            "scoring_users": len(split.test),
            "peak_rss_mib": peak_rss_mib(),
            "wall_seconds": time.perf_counter() - wall_start,
            "load_average_at_end": list(os.getloadavg()),
        },
    }
    write_report(out_path, report)
    log_verdict(report, out_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
