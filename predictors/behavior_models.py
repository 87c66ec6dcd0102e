"""Intent, churn and segment models over a workspace source: train, save, and score.

The model code lives in `predictors/models`, `predictors/training` and `predictors/scoring`;
this module connects it to the workspace: checkpoints (with data fingerprints), the derived
`segments` table, and per-user score columns for `user_scores`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import InputError
from predictors.features.user_features import user_profile_features
from predictors.models.churn import ChurnModel
from predictors.models.intent import IntentModel
from predictors.models.segments import SegmentConfig, SegmentModel, describe_segments
from predictors.next_item import NextItemModel, load_next_item
from predictors.scoring.intent_churn import score_churn, score_intent
from predictors.training.churn_trainer import ChurnTrainConfig, ChurnTrainResult, train_churn
from predictors.training.intent_trainer import (
    IntentTrainConfig,
    IntentTrainResult,
    train_intent,
)
from store.checkpoints import CHURN, INTENT, SEGMENTS, load_checkpoint, save_checkpoint
from store.readers import user_sequences
from store.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_HORIZONS = {INTENT: "1D", CHURN: "180D"}


def train_intent_model(ws: Workspace, source: str, horizon: str | None, seed: int,
                       quick: bool) -> dict[str, Any]:
    """Temporal-split intent training with baselines; saves the calibrated model."""
    config = IntentTrainConfig(source=source, horizon=horizon or DEFAULT_HORIZONS[INTENT],
                               seed=seed, progress=False, n_bootstrap=100 if quick else 1000,
                               n_train_cutoffs=3 if quick else 5)
    return _train_and_save(ws, source, INTENT, lambda con: train_intent(con, config))


def train_churn_model(ws: Workspace, source: str, horizon: str | None, seed: int,
                      quick: bool) -> dict[str, Any]:
    """Churn training at cut-offs with the recency baseline; saves the calibrated model."""
    config = ChurnTrainConfig(source=source, horizon=horizon or DEFAULT_HORIZONS[CHURN],
                              seed=seed, progress=False, n_bootstrap=100 if quick else 1000)
    return _train_and_save(ws, source, CHURN, lambda con: train_churn(con, config))


def _train_and_save(ws: Workspace, source: str, kind: str,
                    train: Callable[[Any], IntentTrainResult | ChurnTrainResult]
                    ) -> dict[str, Any]:
    """Run `train` on a workspace connection, save its model as the current `kind` checkpoint
    with the evaluation report, and return the version and headline figures."""
    con = ws.connect()
    try:
        result = train(con)
    finally:
        con.close()
    report = result.to_dict()
    version = save_checkpoint(ws, source, kind, lambda d: result.model.save(d / "model"),
                              {"evaluation": report})
    return {"version": version, **_headline(report)}


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    """The few figures worth printing: model AUC beside the best baseline, per level."""
    out: dict[str, Any] = {}
    for key in ("item_level", "user_level", "evaluation"):
        level = report.get(key)
        if isinstance(level, dict) and "model_vs_baselines_auc" in level:
            out[key] = {"auc": level["model_vs_baselines_auc"],
                        "best_baseline": level.get("best_baseline"),
                        "beats_best_baseline": level.get("model_beats_best_baseline_auc")}
    return out


def user_embeddings(ws: Workspace, source: str, model: NextItemModel,
                    batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Each user's sequence-model embedding (last hidden state), for segmentation."""
    con = ws.connect()
    try:
        sequences = user_sequences(con, source)
    finally:
        con.close()
    inputs, types = model.encode(sequences)
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start:start + batch_size]
        kinds = types[start:start + batch_size] if types else None
        _, _, hidden = model.recommend(chunk, kinds, k=1)
        for offset, vector in enumerate(hidden):
            if chunk[offset]:
                out[sequences.user_ids[start + offset]] = vector
    return out


def _optional_next_item(ws: Workspace, source: str) -> NextItemModel | None:
    try:
        return load_next_item(ws, source)
    except InputError:
        return None


def train_segment_model(ws: Workspace, source: str, seed: int, k: int | None = None
                        ) -> dict[str, Any]:
    """Cluster users on RFM/behavior features (+ sequence embeddings) and publish `segments`."""
    con = ws.connect()
    try:
        profiles = user_profile_features(con, source)
    finally:
        con.close()
    if len(profiles) < 3:
        raise InputError(f"source '{source}' has {len(profiles)} users; segments need 3 or more")
    next_item = _optional_next_item(ws, source)
    embeddings = user_embeddings(ws, source, next_item) if next_item is not None else None
    model = SegmentModel(SegmentConfig(k=k, seed=seed))
    fit = model.fit(profiles, embeddings)
    scores = _score_frame(ws, source, with_segments=False)
    con = ws.connect()
    try:
        renamed = None
        if scores is not None:
            renamed = (scores.rename(columns={"intent_p_any": "p_any_purchase"})
                       .rename_axis("user_id").reset_index())
        table = describe_segments(con, source, fit.assignments, profiles, renamed)
    finally:
        con.close()
    meta = {"k": fit.k, "silhouette_by_k": {str(a): b for a, b in fit.silhouette_by_k.items()},
            "used_embeddings": fit.used_embeddings,
            "embedding_coverage": fit.embedding_coverage}
    version = save_checkpoint(ws, source, SEGMENTS, lambda d: model.save(d / "model"), meta)
    publish_segments(ws, source, table, version)
    return {"version": version, "k": fit.k, "sizes": table["n_users"].tolist(),
            "used_embeddings": fit.used_embeddings}


def publish_segments(ws: Workspace, source: str, table: pd.DataFrame, version: str) -> None:
    """Replace this source's rows of the derived `segments` table."""
    frame = table.copy()
    frame.insert(0, "source", source)
    frame["model_version"] = version
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    ws.write_derived("segments", arrow, {"model_version": version}, partition=source)


def _score_frame(ws: Workspace, source: str, with_segments: bool = True) -> pd.DataFrame | None:
    """Intent / churn (/ segment) columns per user from whichever models exist."""
    frames: list[pd.DataFrame] = []
    versions: list[str] = []
    for kind, loader in ((INTENT, _intent_columns), (CHURN, _churn_columns)):
        try:
            path, meta = load_checkpoint(ws, source, kind)
        except InputError:
            continue
        con = ws.connect()
        try:
            frames.append(loader(con, path, source))
        finally:
            con.close()
        versions.append(meta["version"])
    if with_segments:
        try:
            path, meta = load_checkpoint(ws, source, SEGMENTS)
        except InputError:
            pass
        else:
            frames.append(_segment_columns(ws, source, path))
            versions.append(meta["version"])
    if not frames:
        return None
    merged = pd.concat(frames, axis=1)
    merged.attrs["model_version"] = "+".join(versions)
    return merged


def _intent_columns(con: Any, path: Path, source: str) -> pd.DataFrame:
    model = IntentModel.load(path / "model")
    scores = score_intent(con, model, source=source)
    return pd.DataFrame({
        "intent_p_any": scores["p_any_purchase"].to_numpy(),
        "intent_items": [[d["item_id"] for d in items] for items in scores["top_items"]],
        "intent_scores": [[float(d["p"]) for d in items] for items in scores["top_items"]],
    }, index=scores["user_id"].astype(str))


def _churn_columns(con: Any, path: Path, source: str) -> pd.DataFrame:
    scores = score_churn(con, ChurnModel.load(path / "model"), source=source)
    return pd.DataFrame({"churn_risk": scores["churn_risk"].to_numpy()},
                        index=scores["user_id"].astype(str))


def _segment_columns(ws: Workspace, source: str, path: Path) -> pd.DataFrame:
    model = SegmentModel.load(path / "model")
    con = ws.connect()
    try:
        profiles = user_profile_features(con, source)
    finally:
        con.close()
    next_item = _optional_next_item(ws, source)
    embeddings = user_embeddings(ws, source, next_item) if next_item is not None else None
    assigned = model.predict(profiles, embeddings)
    return pd.DataFrame({"segment": assigned["segment"].astype("int64").to_numpy()},
                        index=assigned["user_id"].astype(str))


def score_columns(ws: Workspace, source: str) -> pd.DataFrame | None:
    """The extra `user_scores` columns for a source (None when no such model is trained)."""
    return _score_frame(ws, source, with_segments=True)
