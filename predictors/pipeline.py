"""Train, evaluate and score every predictor of a source: the work behind the CLI commands.

Each model kind decides whether it applies to a source (next-item needs sequences; intent
needs timed purchase events; churn needs timed activity over a long span; segments need
users) and reports "skipped" with the reason when it does not.
"""

from __future__ import annotations

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


@dataclass
class TrainRequest:
    """What `insight train` was asked to do."""

    kinds: tuple[str, ...] = MODEL_KINDS
    quick: bool = False
    epochs: int | None = None
    seed: int = 0
    horizon: str | None = None


def _open(workspace: Path) -> Workspace:
    ws = Workspace.open(workspace)
    return ws


def train_source(workspace: Path, source: str | None, request: TrainRequest) -> dict[str, Any]:
    """Train the requested model kinds on one source; returns a summary per kind."""
    ws = _open(workspace)
    source = require_source(ws, source)
    results: dict[str, Any] = {"source": source}
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


def evaluate_source(workspace: Path, source: str | None, checkpoint: Path | None) -> dict[str, Any]:
    """Evaluate the saved next-item model on the current data, with the saved other metrics."""
    ws = _open(workspace)
    source = require_source(ws, source)
    return {"source": source, NEXT_ITEM: evaluate_next_item(ws, source, checkpoint)}


def score_sources(
    workspace: Path,
    sources: list[str] | None,
    k: int = 10,
    batch_size: int = 1024,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """Write `user_scores` for each source that has a trained next-item model."""
    ws = _open(workspace)
    if not ws.sources:
        raise InputError(f"workspace {ws.root} is empty; run `insight ingest` or `insight sample`")
    chosen = sources or [s for s in sorted(ws.sources)
                         if current_version(ws, s, NEXT_ITEM) is not None]
    if not chosen:
        raise InputError("no source has a trained model; run `insight train --source NAME`")
    results: dict[str, Any] = {}
    for source in chosen:
        require_source(ws, source)
        model = load_next_item(ws, source, checkpoint)
        extras = _extra_scores(ws, source)
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
