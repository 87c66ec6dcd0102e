"""Intent, churn and segment of one user from the saved models, over the live events table.

The feature queries are the training ones (:mod:`predictors.features`), run on the source's
in-memory DuckDB table (stored plus live events) for the user's hash bucket only, then
filtered to the user. The cut-off is the batch scoring's: just after the source's last event.
Each function returns ``(value, None)`` or ``(None, reason)``.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from core.errors import InputError
from predictors.features import check_cutoff, iso, source_span
from predictors.features import churn_features as C
from predictors.features import intent_features as F
from predictors.features.user_features import user_profile_features
from predictors.models.churn import ChurnModel
from predictors.models.intent import IntentModel
from predictors.models.segments import SegmentModel

log = logging.getLogger(__name__)

N_BUCKETS = 64
INTENT_TOP_K = 5

Result = tuple[dict[str, Any] | None, str | None]


def _bucket(con: duckdb.DuckDBPyConnection, user_id: str) -> int:
    rows = con.execute("SELECT hash(CAST(? AS VARCHAR)) % ?", [user_id, N_BUCKETS]).fetchall()
    return int(rows[0][0])


def _cutoff(con: duckdb.DuckDBPyConnection, source: str, purpose: str) -> int:
    span = source_span(con, source)
    if span.max_us is None:
        check_cutoff(span, 0, purpose)  # raises: untimed source
    assert span.max_us is not None
    cutoff = span.max_us + 1
    check_cutoff(span, cutoff, purpose)
    return cutoff


def _only(frame: pd.DataFrame, user_id: str) -> pd.DataFrame:
    """The rows of `user_id` in a per-bucket feature frame."""
    return frame[frame["user_id"] == user_id]


def intent_of(con: duckdb.DuckDBPyConnection, model: IntentModel, source: str,
              user_id: str) -> Result:
    """P(any purchase within the horizon) and the top candidate items of `user_id`."""
    try:
        cutoff = _cutoff(con, source, "intent scoring")
    except InputError as exc:
        return None, str(exc)
    bucket = _bucket(con, user_id)
    config = model.feature_config
    users = _only(F.user_features(con, source, cutoff, config, N_BUCKETS, bucket), user_id)
    if users.empty:
        return None, (f"no events in the intent model's lookback window before {iso(cutoff)} "
                      "(the source's latest event)")
    items = _only(F.item_features(con, source, cutoff, config, N_BUCKETS, bucket), user_id)
    top: list[dict[str, Any]] = []
    if len(items):
        p = model.predict_item_proba(items)
        order = np.argsort(-p, kind="stable")[:INTENT_TOP_K]
        top = [{"item_id": str(items["item_id"].iloc[i]), "p": round(float(p[i]), 6)}
               for i in order]
    p_any = float(model.predict_user_proba(users)[0])
    return {"p_any_purchase": round(p_any, 6), "horizon": model.horizon, "items": top,
            "as_of": iso(cutoff)}, None


def churn_of(con: duckdb.DuckDBPyConnection, model: ChurnModel, source: str,
             user_id: str) -> Result:
    """P(no activity within the horizon) of `user_id`, when the user is eligible."""
    try:
        cutoff = _cutoff(con, source, "churn scoring")
    except InputError as exc:
        return None, str(exc)
    rows = _only(C.churn_features(con, source, cutoff, model.feature_config, N_BUCKETS,
                                  _bucket(con, user_id)), user_id)
    if rows.empty:
        return None, ("the user is outside the churn model's population (too few events, "
                      f"or none recent enough) as of {iso(cutoff)}")
    risk = float(model.predict_proba(rows)[0])
    return {"risk": round(risk, 6), "horizon": model.horizon, "as_of": iso(cutoff)}, None


def segment_of(con: duckdb.DuckDBPyConnection, model: SegmentModel, source: str,
               user_id: str, embedding: np.ndarray | None) -> Result:
    """The segment the fitted model assigns to `user_id` (profile + sequence embedding)."""
    profiles = user_profile_features(con, source)
    profiles = profiles[profiles["user_id"] == user_id]
    if profiles.empty:
        return None, "the user has no events in the source"
    embeddings = {user_id: embedding} if embedding is not None else None
    try:
        assigned = model.predict(profiles.reset_index(drop=True), embeddings)
    except InputError as exc:
        return None, str(exc)
    return {"segment": int(assigned["segment"].iloc[0])}, None

