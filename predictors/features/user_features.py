"""Per-user RFM and behavior-mix features for segmentation, and per-segment top values.

:func:`user_profile_features` gives one row per user of a source: recency, frequency and
monetary value (sum of purchase prices when the source has prices), tenure, breadth (items,
categories, brands), activity (active days, events per active day) and the share of each
event type, plus cart-to-purchase conversion and mean rating. With a cut-off only events
before it are read; without one the whole log is used, which also works for untimed
sources (recency and tenure are then NULL).

:func:`top_values_by_segment` ranks categories, items or brands within each segment of a
user → segment assignment, for describing segments with computed facts.
"""

from __future__ import annotations

import uuid
from typing import Any

import duckdb
import pandas as pd

from core.errors import InputError
from predictors.features import (
    US_PER_DAY,
    TimeLike,
    check_cutoff,
    query_df,
    require_timed,
    source_span,
    to_epoch_us,
)

KEYS: tuple[str, ...] = ("user_id",)
LATEST_US = 2**62

COUNT_FEATURES: tuple[str, ...] = (
    "frequency", "n_purchases", "n_items", "n_categories", "n_brands", "active_days",
)
"""Heavy-tailed non-negative counts (log-transformed before clustering)."""

_DAY = f"{US_PER_DAY}.0"

_PROFILE_SQL = f"""
WITH hist AS (
    SELECT user_id, item_id, event_type, epoch_us(ts) AS t, price, category, brand, rating
    FROM events
    WHERE source = $source AND ($timed = 0 OR (ts IS NOT NULL AND epoch_us(ts) < $cutoff))
),
agg AS (
    SELECT user_id,
           count(*) AS frequency,
           count(*) FILTER (WHERE event_type = 'purchase') AS n_purchases,
           sum(price) FILTER (WHERE event_type = 'purchase') AS monetary,
           ($ref - max(t)) / {_DAY} AS recency_days,
           (max(t) - min(t)) / {_DAY} AS tenure_days,
           count(DISTINCT item_id) AS n_items,
           count(DISTINCT category) AS n_categories,
           count(DISTINCT brand) AS n_brands,
           count(DISTINCT t // {US_PER_DAY}) AS active_days,
           count(*) FILTER (WHERE event_type = 'view') AS n_view,
           count(*) FILTER (WHERE event_type = 'cart') AS n_cart,
           count(*) FILTER (WHERE event_type = 'fav') AS n_fav,
           count(*) FILTER (WHERE event_type = 'review') AS n_review,
           avg(rating) AS mean_rating,
           avg(price) AS mean_price
    FROM hist
    GROUP BY user_id
)
SELECT user_id,
       recency_days, frequency, n_purchases, monetary, tenure_days,
       n_items, n_categories, n_brands, active_days,
       frequency / nullif(active_days, 0) AS events_per_active_day,
       n_view / frequency AS share_view,
       n_cart / frequency AS share_cart,
       n_fav / frequency AS share_fav,
       n_purchases / frequency AS share_purchase,
       n_review / frequency AS share_review,
       n_purchases / nullif(n_cart, 0) AS purchases_per_cart,
       mean_rating, mean_price
FROM agg
ORDER BY user_id
"""


def user_profile_features(
    con: duckdb.DuckDBPyConnection, source: str, cutoff: TimeLike | None = None
) -> pd.DataFrame:
    """RFM + behavior-mix features per user of `source`, as of `cutoff` (None = all events).

    Recency is measured to the cut-off, or to the source's last event when there is none.
    Columns that are NULL for every user (e.g. monetary without prices) are kept; the
    segmentation drops them.
    """
    span = source_span(con, source)
    if cutoff is None:
        timed, cut = 0, LATEST_US
        ref = span.max_us if span.max_us is not None else 0
    else:
        require_timed(span, "a cut-off")
        cut = to_epoch_us(cutoff)
        check_cutoff(span, cut, "user profiles")
        timed, ref = 1, cut
    params = {"source": source, "timed": timed, "cutoff": cut, "ref": ref}
    df = query_df(con, _PROFILE_SQL, params)
    if span.max_us is None:
        df["recency_days"] = float("nan")
        df["tenure_days"] = float("nan")
    df["user_id"] = df["user_id"].astype("string").astype(object)
    for col in df.columns[1:]:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    return df


_TOP_COLUMNS = {"category": "category", "item": "item_id", "brand": "brand"}


def top_values_by_segment(
    con: duckdb.DuckDBPyConnection,
    source: str,
    assignments: pd.DataFrame,
    what: str,
    top_n: int = 5,
    cutoff: TimeLike | None = None,
) -> pd.DataFrame:
    """The `top_n` most frequent categories / items / brands in each segment's events.

    `assignments` has columns ``user_id`` and ``segment``. Returns columns ``segment``,
    ``value``, ``n_events``, ``share`` (of the segment's events with a non-null value), and
    ``rank`` (1 = most frequent).
    """
    if what not in _TOP_COLUMNS:
        raise InputError(f"unknown attribute {what!r}; choose from {sorted(_TOP_COLUMNS)}")
    column = _TOP_COLUMNS[what]
    missing = {"user_id", "segment"} - set(assignments.columns)
    if missing:
        raise InputError(f"segment assignments lack columns {sorted(missing)}")
    view = f"_segments_{uuid.uuid4().hex}"
    frame = pd.DataFrame({"user_id": assignments["user_id"].astype(str),
                          "segment": assignments["segment"].astype("int64")})
    con.register(view, frame)
    try:
        sql = f"""
        WITH ev AS (
            SELECT a.segment, e.{column} AS value
            FROM events AS e JOIN {view} AS a ON a.user_id = e.user_id
            WHERE e.source = $source AND e.{column} IS NOT NULL
              AND ($timed = 0 OR (e.ts IS NOT NULL AND epoch_us(e.ts) < $cutoff))
        ),
        counts AS (
            SELECT segment, value, count(*) AS n_events FROM ev GROUP BY segment, value
        ),
        ranked AS (
            SELECT segment, value, n_events,
                   n_events / sum(n_events) OVER (PARTITION BY segment) AS share,
                   row_number() OVER (PARTITION BY segment ORDER BY n_events DESC, value)
                       AS rank
            FROM counts
        )
        SELECT segment, value, n_events, share, rank FROM ranked
        WHERE rank <= $top_n ORDER BY segment, rank
        """
        params: dict[str, Any] = {
            "source": source,
            "timed": 0 if cutoff is None else 1,
            "cutoff": LATEST_US if cutoff is None else to_epoch_us(cutoff),
            "top_n": int(top_n),
        }
        return query_df(con, sql, params)
    finally:
        con.unregister(view)
