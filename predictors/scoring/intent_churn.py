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

import duckdb
import numpy as np
import pandas as pd
from tqdm import tqdm

from predictors.features import TimeLike, check_cutoff, iso, source_span, to_epoch_us
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
    src = source or model.source
    cutoff, n_buckets = _resolve(con, src, as_of, "intent scoring", batch_users)
    log.info("intent scoring %s as of %s in %d batch(es)", src, iso(cutoff), n_buckets)
    for bucket in tqdm(range(n_buckets), desc="intent scoring", disable=not progress):
        users = F.user_features(con, src, cutoff, model.feature_config, n_buckets, bucket)
        if users.empty:
            continue
        items = F.item_features(con, src, cutoff, model.feature_config, n_buckets, bucket)
        p_items = model.predict_item_proba(items) if len(items) else np.zeros(0)
        out = pd.DataFrame({"user_id": users["user_id"].astype(str).to_numpy(),
                            "p_any_purchase": model.predict_user_proba(users)})
        out = out.merge(_top_items(items, p_items, top_k), on="user_id", how="left")
        out["n_candidates"] = out["n_candidates"].fillna(0).astype("int64")
        out["top_items"] = [v if isinstance(v, list) else [] for v in out["top_items"]]
        out.insert(0, "source", src)
        out["as_of"] = iso(cutoff)
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
    parts = list(iter_intent_scores(con, model, as_of, source, top_k, batch_users, progress))
    if not parts:
        return pd.DataFrame(columns=["source", "user_id", "p_any_purchase", "n_candidates",
                                     "top_items", "as_of"])
    return pd.concat(parts, ignore_index=True).sort_values("user_id", ignore_index=True)


def iter_churn_scores(
    con: duckdb.DuckDBPyConnection,
    model: ChurnModel,
    as_of: TimeLike | None = None,
    source: str | None = None,
    batch_users: int = DEFAULT_BATCH_USERS,
    progress: bool = False,
) -> Iterator[pd.DataFrame]:
    """Yield per-batch churn scores: source, user_id, churn_risk, as_of."""
    src = source or model.source
    cutoff, n_buckets = _resolve(con, src, as_of, "churn scoring", batch_users)
    log.info("churn scoring %s as of %s in %d batch(es)", src, iso(cutoff), n_buckets)
    for bucket in tqdm(range(n_buckets), desc="churn scoring", disable=not progress):
        X = C.churn_features(con, src, cutoff, model.feature_config, n_buckets, bucket)
        if X.empty:
            continue
        yield pd.DataFrame({"source": src, "user_id": X["user_id"].astype(str).to_numpy(),
                            "churn_risk": model.predict_proba(X), "as_of": iso(cutoff)})


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
    parts = list(iter_churn_scores(con, model, as_of, source, batch_users, progress))
    if not parts:
        return pd.DataFrame(columns=["source", "user_id", "churn_risk", "as_of"])
    return pd.concat(parts, ignore_index=True).sort_values("user_id", ignore_index=True)
