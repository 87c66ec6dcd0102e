"""Train, evaluate and score every predictor of a source: the work behind the CLI commands.

Each model kind decides whether it applies to a source (next-item needs sequences; intent
needs timed purchase events; churn needs timed activity over a long span; segments need
users) and reports "skipped" with the reason when it does not.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InputError
from predictors import behavior_models
from predictors.next_item import (
    NextItemOptions,
    evaluate_next_item,
    load_next_item,
    quick_options,
    train_next_item,
)
from predictors.score_users import score_users
from store.checkpoints import CHURN, INTENT, MODEL_KINDS, NEXT_ITEM, SEGMENTS, current_version
from store.queries import source_of_user, table_exists
from store.readers import require_source
from store.workspace import Workspace

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
"""Where `score_sources` runs the scoring: in this process, or on a Ray cluster."""


@dataclass
class TrainRequest:
    """What `insight train` was asked to do."""

    kinds: tuple[str, ...] = MODEL_KINDS
    quick: bool = False
    epochs: int | None = None
    seed: int = 0
    horizon: str | None = None
    resume: bool = False  # fine-tune the current next-item checkpoint (predictors.training.resume)


def _open(workspace: Path) -> Workspace:
    ws = Workspace.open(workspace)
    return ws


def train_source(workspace: Path, source: str | None, request: TrainRequest) -> dict[str, Any]:
    """Train the requested model kinds on one source; returns a summary per kind."""
    ws = _open(workspace)
    source = require_source(ws, source)
    results: dict[str, Any] = {"source": source}
    if request.resume:
        return {**results, **_resume(ws, source, request)}
    if NEXT_ITEM in request.kinds:
        options = quick_options(seed=request.seed) if request.quick else NextItemOptions(
            seed=request.seed)
        if request.epochs is not None:
            options.max_epochs = request.epochs
        model = train_next_item(ws, source, options)
        results[NEXT_ITEM] = {"version": model.version, "test": model.meta["metrics"],
                              "best_epoch": model.meta["training"]["best_epoch"]}
    for kind in request.kinds:
        if kind == NEXT_ITEM:
            continue
        trainer = _EXTRA_TRAINERS.get(kind)
        if trainer is None:
            results[kind] = {"skipped": "not available in this build"}
            continue
        try:
            results[kind] = trainer(ws, source, request)
        except InputError as exc:
            if len(request.kinds) == 1:
                raise
            results[kind] = {"skipped": str(exc)}
            log.info("%s skipped for %s: %s", kind, source, exc)
    return results


def _resume(ws: Workspace, source: str, request: TrainRequest) -> dict[str, Any]:
    """`insight train --resume`: fine-tune next-item; the other kinds need a full training."""
    from predictors.training.resume import ResumeOptions, resume_next_item

    if NEXT_ITEM not in request.kinds:
        raise InputError(f"--resume fine-tunes the {NEXT_ITEM} model only; add --only "
                         f"{NEXT_ITEM} or train the others without --resume")
    schedule = ResumeOptions(seed=request.seed)
    if request.epochs is not None:
        schedule.max_epochs = request.epochs
    model = resume_next_item(ws, source, schedule)
    out: dict[str, Any] = {NEXT_ITEM: {
        "version": model.version, "resumed_from": model.meta["resumed_from"],
        "test": model.meta["metrics"], "best_epoch": model.meta["training"]["best_epoch"],
        **{k: model.meta["resume"][k] for k in ("new_items", "sequences_trained", "seconds")}}}
    for kind in request.kinds:
        if kind != NEXT_ITEM:
            out[kind] = {"skipped": "--resume fine-tunes next_item only; train "
                                    f"`insight train --only {kind}` to refresh it"}
    return out


def evaluate_source(workspace: Path, source: str | None, checkpoint: Path | None) -> dict[str, Any]:
    """Evaluate the saved next-item model on the current data, with the saved other metrics."""
    ws = _open(workspace)
    source = require_source(ws, source)
    return {"source": source, **evaluate_next_item(ws, source, checkpoint)}


def score_sources(
    workspace: Path,
    sources: list[str] | None,
    k: int = 10,
    batch_size: int = 1024,
    checkpoint: Path | None = None,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write `user_scores` for each source that has a trained next-item model.

    `engine` "local" scores in this process; "ray" runs the same batch scorer in Ray actors
    (`predictors.ray_scoring`) on the cluster at `address` (None: a local Ray for this run),
    with `workers` actors. Both publish the same table and report the same shape.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    ws = _open(workspace)
    if not ws.sources:
        raise InputError(f"workspace {ws.root} is empty; run `insight ingest` or `insight sample`")
    chosen = sources or [s for s in sorted(ws.sources)
                         if current_version(ws, s, NEXT_ITEM) is not None]
    if not chosen:
        raise InputError("no source has a trained model; run `insight train --source NAME`")
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if engine == "ray":
            from core.ray_cluster import ray_session
            from predictors.ray_scoring import score_users_ray

            stack.enter_context(ray_session(address))
        for source in chosen:
            require_source(ws, source)
            model = load_next_item(ws, source, checkpoint)
            extras = _extra_scores(ws, source)
            if engine == "ray":
                report = score_users_ray(ws, source, model, extras, checkpoint, k=k,
                                         batch_size=batch_size, workers=workers)
            else:
                report = score_users(ws, source, model, extras, k=k, batch_size=batch_size)
            results[source] = {"users": report.users, "seconds": round(report.seconds, 2),
                               "users_per_second": round(report.users_per_second, 1),
                               "model_version": report.model_version}
    return results


def _extra_scores(ws: Workspace, source: str) -> pd.DataFrame | None:
    """Intent, churn and segment per user from the other saved models, when there are any."""
    return behavior_models.score_columns(ws, source)


_EXTRA_TRAINERS: dict[str, Any] = {
    INTENT: lambda ws, source, r: behavior_models.train_intent_model(
        ws, source, r.horizon, r.seed, r.quick),
    CHURN: lambda ws, source, r: behavior_models.train_churn_model(
        ws, source, r.horizon, r.seed, r.quick),
    SEGMENTS: lambda ws, source, r: behavior_models.train_segment_model(
        ws, source, r.seed),
}


def user_scores_of(workspace: Path, user_id: str, source: str | None) -> dict[str, Any]:
    """One user's row of `user_scores`; clear errors for unknown users or missing scores."""
    ws = _open(workspace)
    con = ws.connect()
    try:
        chosen = source_of_user(con, user_id, source)
        if not table_exists(con, "user_scores"):
            raise InputError("no scores yet; run `insight train` and `insight score`")
        frame = con.execute("SELECT * FROM user_scores WHERE source = ? AND user_id = ?",
                            [chosen, user_id]).df()
    finally:
        con.close()
    if frame.empty:
        raise InputError(f"user {user_id!r} of source {chosen!r} has no scores; run "
                         f"`insight score --source {chosen}`")
    row = frame.iloc[0].to_dict()
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row.items()}
