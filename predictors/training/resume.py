"""Fine-tune the current next-item checkpoint on the data as it is now (`insight train --resume`).

A full retrain starts from random weights and runs until validation stops improving; a resumed
one starts from the checkpoint in use and runs a short schedule. The item vocabulary of the
current data keeps every old id at its old int (its embedding row is copied) and appends the
new items with freshly initialised rows. Sequences of users with events since the checkpoint
(``trained_on.last_event_ts`` in its metadata) are always trained on; the other users' are
replayed in a share ``replay_fraction`` so the model does not forget them. Validation
(leave-one-out, all users) drives early stopping exactly as in a full training, and the result
is published as a new version with ``resumed_from`` naming the old one.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from core.errors import InputError
from predictors.evaluation.evaluator import evaluate
from predictors.evaluation.splits import LeaveOneOutSplit
from predictors.models import SASRec, SASRecConfig
from predictors.next_item import (
    NextItemModel,
    _encode_all,
    checkpoint_meta,
    evaluate_split,
    publish_next_item,
    read_training_data,
    training_split,
)
from predictors.sequences import IdVocab
from predictors.training.recipe import NextItemOptions
from predictors.training.sequence_trainer import TrainResult, fit
from store.checkpoints import NEXT_ITEM, load_checkpoint
from store.readers import UserSequences
from store.workspace import Workspace

log = logging.getLogger(__name__)

ARCHITECTURE = ("d_model", "n_layers", "n_heads", "ff_mult", "max_len")
"""Options that shape the weights: a resumed model must keep the checkpoint's values."""


@dataclass
class ResumeOptions:
    """The short fine-tuning schedule of a resumed training.

    Attributes:
        max_epochs / patience: early stopping on validation NDCG@10, as a full training.
        replay_fraction: share of the users without new events whose sequences are trained on
            too (1.0: every user; 0.0: only users with events since the checkpoint).
        lr_mult: multiplier of the checkpoint's learning rate.
        batch_size: the fine-tuning batch (None: the checkpoint's); larger batches make the
            few epochs of a refresh cheaper.
        seed / progress: reproducibility and progress bars.

    Defaults: chosen by ``benchmarks/refresh.py --tune`` on validation NDCG@10 only (Musical
    Instruments, 3 seeds; rule: the best mean validation NDCG@10 among schedules whose mean
    time is within 20% of a full retrain's; see ``benchmarks/results/refresh_tuning.json``).
    Two epochs (replay 0.5) came within 2-3% of a full retrain on validation but took
    20.1-28% of its time.
    The first tuning (one seed, learning rate fixed) chose replay 0.25.
    """

    max_epochs: int = 1
    patience: int = 1
    replay_fraction: float = 0.5
    lr_mult: float = 1.0
    batch_size: int | None = None
    seed: int = 0
    progress: bool = True


def checkpoint_options(meta: dict[str, Any], override: NextItemOptions | None = None
                       ) -> NextItemOptions:
    """The options a checkpoint was trained with, or `override` once checked compatible.

    Raises InputError naming each architecture option that differs from the checkpoint.
    """
    recorded = meta.get("options") or {}
    known = {f.name for f in fields(NextItemOptions)}
    saved = NextItemOptions(**{k: v for k, v in recorded.items() if k in known})
    config = meta.get("model_config") or {}
    saved = replace(saved, **{k: config[k] for k in ARCHITECTURE
                              if k in config and hasattr(saved, k)})
    if override is None:
        return saved
    clashes = [f"{k}={getattr(override, k)} (checkpoint {getattr(saved, k)})"
               for k in ARCHITECTURE
               if hasattr(saved, k) and getattr(override, k) != getattr(saved, k)]
    if clashes:
        raise InputError(f"checkpoint {meta.get('version')} has an incompatible model config: "
                         f"{', '.join(clashes)}; resume with the checkpoint's settings or "
                         f"retrain with `insight train`")
    return override


def _checkpoint(ws: Workspace, source: str) -> tuple[Path, dict[str, Any]]:
    """The current next-item checkpoint of `source`, whatever data it was trained on."""
    path, meta = load_checkpoint(ws, source, NEXT_ITEM, check_data=False)
    if meta.get("source") != source or meta.get("kind") != NEXT_ITEM:
        raise InputError(f"checkpoint {path} is a {meta.get('kind')} model of source "
                         f"{meta.get('source')!r}, not a {NEXT_ITEM} model of {source!r}; "
                         f"train one with `insight train --source {source}`")
    if not (path / "model.pt").exists() or not (path / "items.json").exists():
        raise InputError(f"checkpoint {path} lacks model.pt or items.json; retrain it")
    return path, meta


def extend_model(path: Path, meta: dict[str, Any], vocab: IdVocab) -> SASRec:
    """The checkpoint's SASRec with an item table grown to `vocab` (old rows copied).

    `vocab` must extend the checkpoint's vocabulary (old ids keep their ints); the rows of
    new items keep the model's fresh initialisation.
    """
    state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    config = SASRecConfig(**{**meta["model_config"], "n_items": len(vocab)})
    model = SASRec(config)
    old = state["item_emb.weight"]
    table = model.state_dict()["item_emb.weight"].clone()
    if old.shape[0] > table.shape[0] or old.shape[1] != table.shape[1]:
        raise InputError(f"checkpoint {path}: item table {tuple(old.shape)} does not fit the "
                         f"current vocabulary ({table.shape[0]} rows of width {table.shape[1]})")
    table[: old.shape[0]] = old
    try:
        model.load_state_dict({**state, "item_emb.weight": table})
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path} does not match its model config ({exc}); "
                         f"retrain with `insight train`") from exc
    return model


def touched_users(ws: Workspace, source: str, trained_on: dict[str, Any] | None
                  ) -> set[str] | None:
    """Users with events after the checkpoint's last event; None when that is unknown."""
    last = (trained_on or {}).get("last_event_ts")
    if not last:
        return None
    con = ws.connect()
    try:
        rows = con.execute("SELECT DISTINCT user_id FROM events WHERE source = ? "
                           "AND ts > CAST(? AS TIMESTAMPTZ)", [source, last]).fetchall()
    finally:
        con.close()
    return {str(r[0]) for r in rows}


def _training_rows(sequences: UserSequences, touched: set[str] | None,
                   schedule: ResumeOptions) -> list[int]:
    """Indices of the users whose training prefixes the fine-tuning uses."""
    rng = random.Random(schedule.seed)
    rows = [u for u, user in enumerate(sequences.user_ids)
            if touched is None or user in touched or rng.random() < schedule.replay_fraction]
    return rows or list(range(len(sequences)))  # nothing new and no replay: refresh them all


def resume_next_item(ws: Workspace, source: str, schedule: ResumeOptions | None = None,
                     options: NextItemOptions | None = None) -> NextItemModel:
    """Fine-tune the current next-item checkpoint of `source` on its current data; publish it.

    `options` default to the checkpoint's own; architecture options must match it. Raises
    InputError when there is no checkpoint, it belongs to another source, or it cannot grow.
    """
    schedule = schedule or ResumeOptions()
    started = time.perf_counter()
    path, meta = _checkpoint(ws, source)
    options = replace(checkpoint_options(meta, options), seed=schedule.seed,
                      progress=schedule.progress)
    sequences, extent = read_training_data(ws, source)
    use_types = bool(meta.get("use_types"))
    old_vocab = IdVocab.from_dict(json.loads((path / "items.json").read_text()))
    vocab, encoded, types = _encode_all(sequences, use_types, base=old_vocab)
    split = training_split(source, encoded, types)
    model = extend_model(path, meta, vocab)
    touched = touched_users(ws, source, meta.get("trained_on"))
    rows = _training_rows(sequences, touched, schedule)
    log.info("resuming %s from %s: %d new items (%d in all), %s users with new events, "
             "training on %d of %d sequences", source, meta.get("version"),
             len(vocab) - len(old_vocab), len(vocab),
             "all" if touched is None else len(touched), len(rows), len(encoded))
    result = _fine_tune(model, split, rows, options, schedule, len(vocab))
    mask_seen = options.resolved_mask_seen(split.train)
    metrics = evaluate_split(model, vocab, split, options.max_len, len(vocab),
                             mask_seen=mask_seen)
    wrapped = NextItemModel(model=model, items=vocab, use_types=use_types,
                            max_len=options.max_len)
    seconds = time.perf_counter() - started
    new_meta = {
        **checkpoint_meta(wrapped, options, result, metrics, len(encoded), extent,
                          split.train, mask_seen),
        "resumed_from": meta.get("version"),
        "resume": {
            "schedule": asdict(schedule),
            "old_items": len(old_vocab),
            "new_items": len(vocab) - len(old_vocab),
            "users_with_new_events": None if touched is None else len(touched),
            "sequences_trained": len(rows),
            "previous_trained_on": meta.get("trained_on"),
            "seconds": round(seconds, 2),
        },
    }
    return publish_next_item(ws, source, wrapped, new_meta)


def _fine_tune(model: SASRec, split: LeaveOneOutSplit, rows: list[int],
               options: NextItemOptions, schedule: ResumeOptions, n_items: int) -> TrainResult:
    """The trainer run on the chosen users' prefixes, validated on every user.

    The grown checkpoint is validated first (epoch 0): when no fine-tuned epoch beats it, its
    weights are kept, so a refresh never publishes a model worse on validation than its start.
    """
    config = options.train_config(n_items, split.train, max_epochs=schedule.max_epochs,
                                  patience=schedule.patience, lr=options.lr * schedule.lr_mult,
                                  batch_size=schedule.batch_size or options.batch_size)
    start_valid = evaluate(model, split.valid.inputs, split.valid.targets,
                           max_len=config.max_len, type_inputs=split.valid.type_inputs,
                           batch_size=config.eval_batch_size,
                           filter_history=config.filter_history)
    start_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    train = [split.train[u] for u in rows]
    train_types = ([split.train_types[u] for u in rows] if split.train_types is not None
                   else None)
    result = fit(model, train, split.valid.inputs, split.valid.targets, config,
                 train_types=train_types, valid_types=split.valid.type_inputs)
    if result.best_valid.get("NDCG@10", 0.0) >= start_valid["NDCG@10"]:
        return result
    log.info("no fine-tuned epoch beat the checkpoint on validation (NDCG@10 %.4f vs %.4f): "
             "keeping its weights", result.best_valid.get("NDCG@10", 0.0),
             start_valid["NDCG@10"])
    model.load_state_dict(start_state)
    return replace(result, best_epoch=0, best_valid=start_valid, best_state_dict=start_state)
