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

import numpy as np
import pandas as pd

from predictors.features import (
    US_PER_DAY,
    USER_BUCKET_SQL,
    DurationLike,
    FeatureQuery,
    to_duration_us,
    window_start,
)
from predictors.features.labels import LabelQuery, attach_labels

KEYS: tuple[str, ...] = ("user_id",)


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
        return {
            "cutoff": int(cutoff_us),
            "start": int(window_start(cutoff_us, self.lookback)),
            "active_since": int(window_start(cutoff_us, self.active_within)),
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

churn_features = FeatureQuery(_FEATURE_SQL, KEYS, ChurnFeatureConfig)
"""``churn_features(con, source, cutoff, config=None, n_buckets=1, bucket=0)``: one feature
row per eligible user, from events strictly before `cutoff`."""

active_users = LabelQuery(KEYS)
"""``active_users(con, source, cutoff, horizon, n_buckets=1, bucket=0)``: users with at least
one event in ``[cutoff, cutoff + horizon)``."""


def churn_labels(features: pd.DataFrame, active: pd.DataFrame) -> np.ndarray:
    """1 = churned (no event in the horizon), 0 = came back, per feature row."""
    return 1 - attach_labels(features, active, KEYS)
