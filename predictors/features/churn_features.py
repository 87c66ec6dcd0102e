"""Churn features and labels as of a cut-off, built with DuckDB SQL.

One row per user with at least ``min_events`` events before the cut-off (optionally only
users whose last event falls within ``active_within`` of it). Features: recency, tenure,
frequency overall and in windows that scale with the horizon (1/6, 1/2, 1 and 2 horizons),
the trend between the last and the previous horizon, inter-event gaps (mean, median, max,
last, and how overdue the user is against their own mean gap), active days, item breadth and
popularity, counts per event type and ratings when the source has them.

Label: churned = no event at all in ``[t, t + horizon)``. The feature query reads only events
strictly before the cut-off; the label query only the label window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from predictors.features import (
    US_PER_DAY,
    USER_BUCKET_SQL,
    DurationLike,
    TimeLike,
    query_df,
    to_duration_us,
    to_epoch_us,
    user_bucket_params,
)

KEYS: tuple[str, ...] = ("user_id",)
EARLIEST_US = -(2**62)


@dataclass(frozen=True)
class ChurnFeatureConfig:
    """Who is scored and which windows are used; durations as timedelta or text ("180D")."""

    horizon: DurationLike = "180D"
    lookback: DurationLike | None = None
    active_within: DurationLike | None = None
    min_events: int = 1

    def params(self, cutoff_us: int) -> dict[str, Any]:
        """Query parameters for a cut-off."""
        h = to_duration_us(self.horizon)
        start = EARLIEST_US if self.lookback is None else cutoff_us - to_duration_us(
            self.lookback)
        active = EARLIEST_US if self.active_within is None else cutoff_us - to_duration_us(
            self.active_within)
        return {
            "cutoff": int(cutoff_us),
            "start": int(start),
            "active_since": int(active),
            "min_events": int(max(1, self.min_events)),
            "w1": h // 6,
            "w2": h // 2,
            "w3": h,
            "w4": 2 * h,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description."""
        return {k: None if v is None else (v if isinstance(v, int) else str(v))
                for k, v in self.__dict__.items()}


_DAY = f"{US_PER_DAY}.0"

_FEATURE_SQL = f"""
WITH
hist_all AS (
    SELECT user_id, item_id, event_type, epoch_us(ts) AS t, ordinal, rating
    FROM events
    WHERE source = $source AND ts IS NOT NULL
      AND epoch_us(ts) < $cutoff AND epoch_us(ts) >= $start
),
hist AS (SELECT * FROM hist_all WHERE {USER_BUCKET_SQL}),
ip AS (SELECT item_id, count(DISTINCT user_id) AS item_users FROM hist_all GROUP BY item_id),
g AS (
    SELECT h.*, ip.item_users,
           t - lag(t) OVER (PARTITION BY user_id ORDER BY t, ordinal) AS gap
    FROM hist AS h LEFT JOIN ip USING (item_id)
),
agg AS (
    SELECT user_id,
           count(*) AS n_events,
           ($cutoff - max(t)) / {_DAY} AS days_since_last,
           ($cutoff - min(t)) / {_DAY} AS days_since_first,
           count(DISTINCT t // {US_PER_DAY}) AS active_days,
           count(DISTINCT item_id) AS n_items,
           count(*) FILTER (WHERE t >= $cutoff - $w1) AS n_events_w1,
           count(*) FILTER (WHERE t >= $cutoff - $w2) AS n_events_w2,
           count(*) FILTER (WHERE t >= $cutoff - $w3) AS n_events_w3,
           count(*) FILTER (WHERE t >= $cutoff - $w4) AS n_events_w4,
           count(*) FILTER (WHERE t >= $cutoff - 2 * $w3 AND t < $cutoff - $w3)
               AS n_events_prev_w3,
           avg(gap) / {_DAY} AS mean_gap_days,
           median(gap) / {_DAY} AS median_gap_days,
           max(gap) / {_DAY} AS max_gap_days,
           stddev_samp(gap) / {_DAY} AS std_gap_days,
           arg_max(gap, t) / {_DAY} AS last_gap_days,
           count(*) FILTER (WHERE event_type = 'view') AS n_view,
           count(*) FILTER (WHERE event_type = 'cart') AS n_cart,
           count(*) FILTER (WHERE event_type = 'purchase') AS n_purchase,
           count(*) FILTER (WHERE event_type = 'review') AS n_review,
           avg(rating) AS mean_rating,
           stddev_samp(rating) AS std_rating,
           arg_max(rating, t) AS last_rating,
           min(rating) AS min_rating,
           avg(item_users) AS mean_item_popularity,
           max(t) AS last_t
    FROM g
    GROUP BY user_id
)
SELECT user_id,
       n_events, days_since_last, days_since_first, active_days, n_items,
       n_events_w1, n_events_w2, n_events_w3, n_events_w4, n_events_prev_w3,
       n_events_w3 - n_events_prev_w3 AS trend_w3,
       mean_gap_days, median_gap_days, max_gap_days, std_gap_days, last_gap_days,
       days_since_last / nullif(mean_gap_days, 0) AS overdue_ratio,
       days_since_last / nullif(max_gap_days, 0) AS overdue_vs_max,
       n_events / greatest(days_since_first, 1.0) AS events_per_day,
       n_view, n_cart, n_purchase, n_review,
       mean_rating, std_rating, last_rating, min_rating, mean_item_popularity
FROM agg
WHERE n_events >= $min_events AND last_t >= $active_since
ORDER BY user_id
"""

_LABEL_SQL = f"""
SELECT DISTINCT user_id
FROM events
WHERE source = $source AND ts IS NOT NULL
  AND epoch_us(ts) >= $cutoff AND epoch_us(ts) < $cutoff + $horizon
  AND {USER_BUCKET_SQL}
"""


def churn_features(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoff: TimeLike,
    config: ChurnFeatureConfig | None = None,
    n_buckets: int = 1,
    bucket: int = 0,
) -> pd.DataFrame:
    """One feature row per eligible user, from events strictly before `cutoff`."""
    cfg = config or ChurnFeatureConfig()
    params = {"source": source, **cfg.params(to_epoch_us(cutoff)),
              **user_bucket_params(n_buckets, bucket)}
    df = query_df(con, _FEATURE_SQL, params)
    out = df.copy()
    out["user_id"] = out["user_id"].astype("string").astype(object)
    for col in out.columns[1:]:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def active_users(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoff: TimeLike,
    horizon: DurationLike,
    n_buckets: int = 1,
    bucket: int = 0,
) -> pd.DataFrame:
    """Users with at least one event in ``[cutoff, cutoff + horizon)``."""
    params = {"source": source, "cutoff": to_epoch_us(cutoff),
              "horizon": to_duration_us(horizon), **user_bucket_params(n_buckets, bucket)}
    return query_df(con, _LABEL_SQL, params).astype({"user_id": str})


def churn_labels(features: pd.DataFrame, active: pd.DataFrame) -> np.ndarray:
    """1 = churned (no event in the horizon), 0 = came back, per feature row."""
    if features.empty:
        return np.zeros(0, dtype=np.int64)
    came_back = features["user_id"].astype(str).isin(set(active["user_id"].astype(str)))
    return (~came_back.to_numpy()).astype(np.int64)


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The feature column names of a churn feature frame."""
    return [c for c in df.columns if c not in KEYS]
