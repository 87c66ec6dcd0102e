"""Score users with trained intent and churn models, streaming users in hash buckets.

Users are split into ``ceil(n_users / batch_users)`` buckets by ``hash(user_id)``; each
bucket's features are built, scored and yielded before the next is read, so memory is
bounded by the batch size (item popularity and category statistics are still computed over
all users, inside DuckDB). The ``iter_*`` functions yield one DataFrame per batch for
writers that stream to Parquet; ``score_*`` concatenate them.

``as_of`` is the scoring cut-off: only events before it are read. Default: just after the
source's last event ("now" for the log). It must fall inside the source's data range.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from tqdm import tqdm

from predictors.features import (
    FeatureQuery,
    TimeLike,
    WindowConfig,
    check_cutoff,
    iso,
    source_span,
    to_epoch_us,
)
from predictors.features import churn_features as C
from predictors.features import intent_features as F
from predictors.models.churn import ChurnModel
from predictors.models.intent import IntentModel

log = logging.getLogger(__name__)

DEFAULT_BATCH_USERS = 20_000

_N_USERS_SQL = """
SELECT count(DISTINCT user_id) FROM events
WHERE source = $source AND ts IS NOT NULL AND epoch_us(ts) < $cutoff
"""


def _resolve(
    con: duckdb.DuckDBPyConnection, source: str, as_of: TimeLike | None, purpose: str,
    batch_users: int,
) -> tuple[int, int]:
    """Validated cut-off (epoch µs) and number of user buckets."""
    span = source_span(con, source)
    if span.max_us is None:
        check_cutoff(span, 0, purpose)  # raises: untimed source
    assert span.max_us is not None
    cutoff = span.max_us + 1 if as_of is None else to_epoch_us(as_of)
    check_cutoff(span, cutoff, purpose)
    n_users = int(con.execute(_N_USERS_SQL, {"source": source, "cutoff": cutoff}).fetchall()[0][0])
    return cutoff, max(1, math.ceil(n_users / max(1, batch_users)))


@dataclass(frozen=True)
class _UserBucket:
    """One hash bucket of a source's users, scored as of a cut-off with a model's features."""

    con: duckdb.DuckDBPyConnection
    source: str
    cutoff: int
    config: WindowConfig
    n_buckets: int
    bucket: int

    def features(self, query: FeatureQuery) -> pd.DataFrame:
        """`query`'s feature rows for this bucket's users."""
        return query(self.con, self.source, self.cutoff, self.config, self.n_buckets, self.bucket)


def _user_buckets(
    con: duckdb.DuckDBPyConnection, model: IntentModel | ChurnModel, source: str | None,
    as_of: TimeLike | None, first: FeatureQuery, batch_users: int, progress: bool,
) -> Iterator[tuple[_UserBucket, pd.DataFrame]]:
    """Each user bucket to score (source: `source` or the model's), with its `first` feature
    rows; buckets without such rows are skipped."""
    src, what = source or model.source, f"{model.KIND} scoring"
    cutoff, n_buckets = _resolve(con, src, as_of, what, batch_users)
    log.info("%s %s as of %s in %d batch(es)", what, src, iso(cutoff), n_buckets)
    for bucket in tqdm(range(n_buckets), desc=what, disable=not progress):
        part = _UserBucket(con, src, cutoff, model.feature_config, n_buckets, bucket)
        rows = part.features(first)
        if not rows.empty:
            yield part, rows


def _all_batches(parts: Iterator[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The batches of an ``iter_*_scores`` generator as one frame sorted by user."""
    frames = list(parts)
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).sort_values("user_id", ignore_index=True)


def _top_items(items: pd.DataFrame, p: np.ndarray, top_k: int) -> pd.DataFrame:
    """Per user: the `top_k` candidate items by probability, as a list of {item_id, p}."""
    if items.empty:
        return pd.DataFrame({"user_id": pd.Series(dtype=object),
                             "top_items": pd.Series(dtype=object),
                             "n_candidates": pd.Series(dtype="int64")})
    df = pd.DataFrame({"user_id": items["user_id"].to_numpy(),
                       "item_id": items["item_id"].to_numpy(), "p": p})
    df = df.sort_values(["user_id", "p", "item_id"], ascending=[True, False, True])
    counts = df.groupby("user_id", sort=True).size()
    head = df.groupby("user_id", sort=True).head(top_k)
    lists = head.groupby("user_id", sort=True).apply(
        lambda g: [{"item_id": str(i), "p": float(v)} for i, v in zip(g["item_id"], g["p"],
                                                                      strict=True)],
        include_groups=False,
    )
    return pd.DataFrame({"user_id": lists.index.astype(str), "top_items": lists.to_numpy(),
                         "n_candidates": counts.loc[lists.index].to_numpy()})


def iter_intent_scores(
    con: duckdb.DuckDBPyConnection,
    model: IntentModel,
    as_of: TimeLike | None = None,
    source: str | None = None,
    top_k: int = 5,
    batch_users: int = DEFAULT_BATCH_USERS,
    progress: bool = False,
) -> Iterator[pd.DataFrame]:
    """Yield per-batch intent scores: user_id, p_any_purchase, n_candidates, top_items."""
    buckets = _user_buckets(con, model, source, as_of, F.user_features, batch_users, progress)
    for part, users in buckets:
        items = part.features(F.item_features)
        p_items = model.predict_item_proba(items) if len(items) else np.zeros(0)
        out = pd.DataFrame({"user_id": users["user_id"].astype(str).to_numpy(),
                            "p_any_purchase": model.predict_user_proba(users)})
        out = out.merge(_top_items(items, p_items, top_k), on="user_id", how="left")
        out["n_candidates"] = out["n_candidates"].fillna(0).astype("int64")
        out["top_items"] = [v if isinstance(v, list) else [] for v in out["top_items"]]
        out.insert(0, "source", part.source)
        out["as_of"] = iso(part.cutoff)
        yield out


def score_intent(
    con: duckdb.DuckDBPyConnection,
    model: IntentModel,
    as_of: TimeLike | None = None,
    source: str | None = None,
    top_k: int = 5,
    batch_users: int = DEFAULT_BATCH_USERS,
    progress: bool = False,
) -> pd.DataFrame:
    """Intent scores for every user active before `as_of`, one row per user.

    Columns: source, user_id, p_any_purchase (calibrated P(any purchase within the model's
    horizon)), n_candidates, top_items (up to `top_k` dicts ``{item_id, p}`` of items the user
    viewed/carted/favourited and has not bought, by calibrated purchase probability), as_of.
    """
    parts = iter_intent_scores(con, model, as_of, source, top_k, batch_users, progress)
    return _all_batches(parts, ["source", "user_id", "p_any_purchase", "n_candidates",
                                "top_items", "as_of"])


def iter_churn_scores(
    con: duckdb.DuckDBPyConnection,
    model: ChurnModel,
    as_of: TimeLike | None = None,
    source: str | None = None,
    batch_users: int = DEFAULT_BATCH_USERS,
    progress: bool = False,
) -> Iterator[pd.DataFrame]:
    """Yield per-batch churn scores: source, user_id, churn_risk, as_of."""
    for part, X in _user_buckets(con, model, source, as_of, C.churn_features, batch_users,
                                 progress):
        yield pd.DataFrame({"source": part.source, "user_id": X["user_id"].astype(str).to_numpy(),
                            "churn_risk": model.predict_proba(X), "as_of": iso(part.cutoff)})


def score_churn(
    con: duckdb.DuckDBPyConnection,
    model: ChurnModel,
    as_of: TimeLike | None = None,
    source: str | None = None,
    batch_users: int = DEFAULT_BATCH_USERS,
    progress: bool = False,
) -> pd.DataFrame:
    """Churn risk (calibrated P(no activity within the model's horizon)) per eligible user.

    Eligibility follows the model's feature config (``min_events``, ``active_within``);
    users outside it are not scored.
    """
    parts = iter_churn_scores(con, model, as_of, source, batch_users, progress)
    return _all_batches(parts, ["source", "user_id", "churn_risk", "as_of"])
