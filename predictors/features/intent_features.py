"""Purchase-intent features and labels as of a cut-off, built with DuckDB SQL.

Two kinds of rows:

* **item level** — one row per (user, item) the user viewed, carted or favourited in the
  lookback window before the cut-off and has not bought before it. Features: the user-item
  funnel (counts per event type, open cart, stage, recency of each step, sessions and days
  touched, in the last session, recency rank, how much the user did after last touching it,
  including other views and purchases in the same category), user activity in the window
  (recency, frequency per type, sessions, conversion history, delayed-purchase habit) and
  long-run rates over all history (active / purchase / cart days per observed day), item
  popularity and conversion, category and brand funnel rates (REES46 has brands and
  prices), the user's affinity to the item's category, price relative to the user's and the
  category's prices. Label: the user buys the item in ``[t, t + horizon)``.
* **user level** — one row per user active in the lookback window: the user features plus
  aggregates over the user's candidate items. Label: any purchase in ``[t, t + horizon)``.

A fixed lookback (default in training: two horizons) keeps the features comparable across
cut-offs: with "all history", early cut-offs would see shorter histories than later ones.

Sessions come from ``session_id`` when the source has one, otherwise from gaps longer than
``session_gap`` between a user's consecutive events. Only events strictly before the cut-off
are read by the feature queries (their SQL is in :mod:`.intent_queries`); the label queries
read only ``[t, t + horizon)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from predictors.features import DurationLike, FeatureQuery, to_duration_us, window_start
from predictors.features.intent_queries import ITEM_FEATURES_SQL, USER_FEATURES_SQL
from predictors.features.labels import LabelQuery

ITEM_KEYS: tuple[str, ...] = ("user_id", "item_id")
USER_KEYS: tuple[str, ...] = ("user_id",)


@dataclass(frozen=True)
class IntentFeatureConfig:
    """Windows used by the intent features (all durations; `lookback` None = all history)."""

    lookback: DurationLike | None = None
    session_gap: DurationLike = "30min"
    recent_long: DurationLike = "1D"
    recent_short: DurationLike = "1h"

    @classmethod
    def for_horizon(cls, horizon: DurationLike) -> IntentFeatureConfig:
        """Windows scaled to a horizon h: lookback 2h, recent = h and h / 24."""
        h = to_duration_us(horizon)
        return cls(lookback=2 * h, recent_long=h, recent_short=max(1, h // 24))

    def params(self, cutoff_us: int) -> dict[str, Any]:
        """Query parameters for a cut-off (the cut-off itself included)."""
        return {
            "cutoff": int(cutoff_us),
            "start": int(window_start(cutoff_us, self.lookback)),
            "session_gap": to_duration_us(self.session_gap),
            "w_long": to_duration_us(self.recent_long),
            "w_short": to_duration_us(self.recent_short),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (durations as text)."""
        return {
            k: None if v is None else str(pd.Timedelta(microseconds=v) if isinstance(v, int)
                                          else v)
            for k, v in self.__dict__.items()
        }


item_features = FeatureQuery(ITEM_FEATURES_SQL, ITEM_KEYS, IntentFeatureConfig)
"""``item_features(con, source, cutoff, config=None, n_buckets=1, bucket=0)``: candidate
(user, item) pairs with their features as of `cutoff` (events before it only). Rows are the
items a user viewed, carted or favourited before the cut-off and did not buy before it."""

user_features = FeatureQuery(USER_FEATURES_SQL, USER_KEYS, IntentFeatureConfig)
"""``user_features(con, source, cutoff, config=None, n_buckets=1, bucket=0)``: one row per
user with events before `cutoff`: activity plus candidate-item aggregates."""

item_labels = LabelQuery(ITEM_KEYS, "purchase")
"""``item_labels(con, source, cutoff, horizon, n_buckets=1, bucket=0)``: (user, item) pairs
bought in ``[cutoff, cutoff + horizon)``."""

user_labels = LabelQuery(USER_KEYS, "purchase")
"""``user_labels(con, source, cutoff, horizon, n_buckets=1, bucket=0)``: users with at least
one purchase in ``[cutoff, cutoff + horizon)``."""
