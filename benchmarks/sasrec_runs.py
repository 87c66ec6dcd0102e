"""The training side of the Beauty SASRec benchmark (`beauty_sasrec.py`): model and training
settings from the command line, the baselines, one seed's run and its refit on train +
validation, each tested with and without history filtering."""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from predictors.evaluation import (
    EvalSet,
    LeaveOneOutSplit,
    Scorer,
    compute_ranks,
    leave_one_out_split,
    summarize_ranks,
    top_k_throughput,
)
from predictors.models import ItemTransition, MostPopular, SASRec, SASRecConfig
from predictors.training import TrainConfig, fit
from predictors.training.recipe import NextItemOptions

logger = logging.getLogger("beauty_sasrec")

OPTION_ARGS = ("max_len", "d_model", "n_heads", "n_layers", "ff_mult", "dropout", "attn_dropout",
               "batch_size", "lr", "embedding_lr_mult", "weight_decay", "patience",
               "max_train_minutes", "lr_plateau_factor", "lr_plateau_patience", "eval_every",
               "loss", "n_negatives", "negative_sampling", "device")
"""Command-line options that are `NextItemOptions` fields of the same name."""


def options_from_args(args: argparse.Namespace, *, seed: int, max_epochs: int
                      ) -> NextItemOptions:
    """The library's recipe object with the command line's values: the benchmark builds its
    model and trainer configs through the same methods as `insight train`."""
    return NextItemOptions(**{name: getattr(args, name) for name in OPTION_ARGS},
                           max_epochs=max_epochs, seed=seed, num_threads=args.threads,
                           use_event_types=False, progress=not args.no_progress)


def make_model_config(args: argparse.Namespace, n_items: int) -> SASRecConfig:
    """Architecture hyperparameters from the command line."""
    return options_from_args(args, seed=0, max_epochs=args.max_epochs).model_config(n_items)


def make_train_config(args: argparse.Namespace, *, seed: int, max_epochs: int,
                      n_items: int, train: list[list[int]] | None = None) -> TrainConfig:
    """Training hyperparameters for one seed from the command line (with `train`, the
    recipe's repeat rule decides whether validation masks the history, as in `insight train`)."""
    return options_from_args(args, seed=seed, max_epochs=max_epochs).train_config(n_items,
                                                                                  train)


def split_data(seqs: list[list[int]]) -> tuple[LeaveOneOutSplit, dict[str, float]]:
    """The leave-one-out split, and the share of valid / test targets already in the history."""
    split = leave_one_out_split(seqs)
    target_in_history = {
        name: float(np.mean([t in set(h) for h, t in zip(es.inputs, es.targets, strict=True)]))
        for name, es in (("valid", split.valid), ("test", split.test))
    }
    return split, target_in_history


def rank_both(scorer: Scorer, eval_set: EvalSet, max_len: int) -> dict[str, dict[str, float]]:
    """Metrics with and without history filtering for one eval set."""
    out = {}
    for name, filt in (("unfiltered", False), ("filtered", True)):
        ranks = compute_ranks(
            scorer, eval_set.inputs, eval_set.targets, max_len=max_len, filter_history=filt
        )
        out[name] = summarize_ranks(ranks)
    return out


def run_baselines(
    split: LeaveOneOutSplit, n_items: int, max_len: int
) -> dict[str, dict[str, object]]:
    """MostPopular and ItemTransition (deterministic, fitted on the same training prefixes)."""
    baselines: dict[str, dict[str, object]] = {}
    for name, scorer in (("MostPopular", MostPopular(n_items)),
                         ("ItemTransition", ItemTransition(n_items))):
        t0 = time.perf_counter()
        scorer.fit(split.train)
        fit_s = time.perf_counter() - t0
        valid = summarize_ranks(
            compute_ranks(scorer, split.valid.inputs, split.valid.targets, max_len=max_len)
        )
        test = rank_both(scorer, split.test, max_len)
        baselines[name] = {
            "valid": valid,
            "test": test["unfiltered"],
            "test_filtered": test["filtered"],
            "fit_seconds": fit_s,
        }
        logger.info("%s test %s", name, test["unfiltered"])
    return baselines


def refit_and_test(
    args: argparse.Namespace,
    model_cfg: SASRecConfig,
    refit_train: list[list[int]],
    split: LeaveOneOutSplit,
    seed: int,
    epochs: int,
) -> dict[str, object]:
    """Train a fresh model on train + validation items for ``epochs`` epochs and test it."""
    cfg = make_train_config(args, seed=seed, max_epochs=max(1, epochs),
                            n_items=model_cfg.n_items)
    cfg.max_train_minutes = None
    torch.manual_seed(seed)
    model = SASRec(model_cfg)
    result = fit(model, refit_train, None, None, cfg)
    test = rank_both(model, split.test, args.max_len)
    logger.info("seed %d refit (%d epochs): test %s", seed, epochs, test["unfiltered"])
    return {
        "test_refit": test["unfiltered"],
        "test_refit_filtered": test["filtered"],
        "refit_epochs": len(result.epochs),
        "refit_train_s": result.total_time_s,
    }


def run_seed(
    args: argparse.Namespace,
    model_cfg: SASRecConfig,
    split: LeaveOneOutSplit,
    refit_train: list[list[int]],
    seed: int,
    max_epochs: int,
) -> tuple[dict[str, object], str]:
    """Train one seed with early stopping on validation, test it once (and its refit with
    ``--refit``): the run's record and the device it trained on."""
    train_cfg = make_train_config(args, seed=seed, max_epochs=max_epochs,
                                  n_items=model_cfg.n_items, train=split.train)
    torch.manual_seed(seed)
    model = SASRec(model_cfg)
    result = fit(model, split.train, split.valid.inputs, split.valid.targets, train_cfg)
    test = rank_both(model, split.test, args.max_len)
    throughput = top_k_throughput(model, split.test.inputs, max_len=args.max_len, k=10)
    run = {
        "seed": seed,
        "best_epoch": result.best_epoch,
        "best_valid": result.best_valid,
        "test": test["unfiltered"],
        "test_filtered": test["filtered"],
        "mean_epoch_seconds": float(np.mean(result.epoch_times_s)),
        "time_to_best_s": result.time_to_best_s,
        "train_total_s": result.total_time_s,
        "epochs_run": len(result.epochs),
        "stopped_early": result.stopped_early,
        "scoring": throughput,
        "n_parameters": model.num_parameters(),
        "training": result.summary(),
    }
    if args.refit:
        run.update(refit_and_test(args, model_cfg, refit_train, split, seed, result.best_epoch))
    logger.info(
        "seed %d: best epoch %d, valid NDCG@10 %.4f, test HR@10 %.4f NDCG@10 %.4f",
        seed,
        result.best_epoch,
        result.best_valid.get("NDCG@10", float("nan")),
        test["unfiltered"]["HR@10"],
        test["unfiltered"]["NDCG@10"],
    )
    return run, result.device
