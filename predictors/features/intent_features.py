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
are read by the feature queries; the label queries read only ``[t, t + horizon)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from predictors.features import (
    US_PER_DAY,
    US_PER_HOUR,
    USER_BUCKET_SQL,
    DurationLike,
    TimeLike,
    query_df,
    to_duration_us,
    to_epoch_us,
    user_bucket_params,
)

log = logging.getLogger(__name__)

ITEM_KEYS: tuple[str, ...] = ("user_id", "item_id")
USER_KEYS: tuple[str, ...] = ("user_id",)
EARLIEST_US = -(2**62)


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
        start = EARLIEST_US if self.lookback is None else cutoff_us - to_duration_us(
            self.lookback)
        return {
            "cutoff": int(cutoff_us),
            "start": int(start),
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


_CTES = f"""
WITH
hist_all AS (
    SELECT user_id, item_id, event_type, epoch_us(ts) AS t, ordinal, session_id,
           price, category, brand
    FROM events
    WHERE source = $source AND ts IS NOT NULL
      AND epoch_us(ts) < $cutoff AND epoch_us(ts) >= $start
),
hist AS (SELECT * FROM hist_all WHERE {USER_BUCKET_SQL}),
ul AS (
    SELECT user_id,
           greatest(($cutoff - min(epoch_us(ts))) / {US_PER_DAY}.0, 1.0) AS ul_days_observed,
           count(DISTINCT epoch_us(ts) // {US_PER_DAY}) AS ul_active_days,
           count(DISTINCT epoch_us(ts) // {US_PER_DAY}) FILTER (WHERE event_type = 'purchase')
               AS ul_purchase_days,
           count(DISTINCT epoch_us(ts) // {US_PER_DAY}) FILTER (WHERE event_type = 'cart')
               AS ul_cart_days,
           count(*) AS ul_n_events,
           count(*) FILTER (WHERE event_type = 'purchase') AS ul_n_purchase
    FROM events
    WHERE source = $source AND ts IS NOT NULL AND epoch_us(ts) < $cutoff
      AND {USER_BUCKET_SQL}
    GROUP BY user_id
),
ulr AS (
    SELECT user_id, ul_days_observed,
           ul_active_days / ul_days_observed AS ul_active_day_rate,
           ul_purchase_days / ul_days_observed AS ul_purchase_day_rate,
           ul_purchase_days / ul_active_days AS ul_purchase_days_per_active_day,
           ul_cart_days / ul_days_observed AS ul_cart_day_rate,
           ul_n_events / ul_days_observed AS ul_events_per_day,
           ul_n_purchase / ul_days_observed AS ul_purchases_per_day
    FROM ul
),
gaps AS (
    SELECT *,
           CASE WHEN lag(t) OVER w IS NULL OR t - lag(t) OVER w > $session_gap
                THEN 1 ELSE 0 END AS new_sess
    FROM hist
    WINDOW w AS (PARTITION BY user_id ORDER BY t, ordinal)
),
sess AS (
    SELECT *,
           coalesce(session_id, CAST(sum(new_sess) OVER (
               PARTITION BY user_id ORDER BY t, ordinal ROWS UNBOUNDED PRECEDING) AS VARCHAR)
           ) AS sess_key,
           row_number() OVER (PARTITION BY user_id ORDER BY t, ordinal) AS u_pos,
           row_number() OVER (PARTITION BY user_id, category ORDER BY t, ordinal) AS uc_pos,
           sum(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) OVER (
               PARTITION BY user_id, category ORDER BY t, ordinal ROWS UNBOUNDED PRECEDING
           ) AS uc_purchase_pos
    FROM gaps
),
last_sess AS (SELECT user_id, arg_max(sess_key, t) AS last_key FROM sess GROUP BY user_id),
u AS (
    SELECT user_id,
           count(*) AS u_n_events,
           count(*) FILTER (WHERE event_type = 'view') AS u_n_view,
           count(*) FILTER (WHERE event_type = 'cart') AS u_n_cart,
           count(*) FILTER (WHERE event_type = 'fav') AS u_n_fav,
           count(*) FILTER (WHERE event_type = 'remove_from_cart') AS u_n_remove,
           count(*) FILTER (WHERE event_type = 'purchase') AS u_n_purchase,
           count(DISTINCT item_id) AS u_n_items,
           count(DISTINCT item_id) FILTER (WHERE event_type = 'purchase') AS u_n_items_bought,
           count(DISTINCT category) AS u_n_categories,
           count(DISTINCT sess_key) AS u_n_sessions,
           count(DISTINCT t // {US_PER_DAY}) AS u_active_days,
           ($cutoff - max(t)) / {US_PER_HOUR}.0 AS u_hours_since_last,
           ($cutoff - min(t)) / {US_PER_HOUR}.0 AS u_hours_since_first,
           ($cutoff - max(t) FILTER (WHERE event_type = 'purchase')) / {US_PER_HOUR}.0
               AS u_hours_since_purchase,
           ($cutoff - max(t) FILTER (WHERE event_type = 'cart')) / {US_PER_HOUR}.0
               AS u_hours_since_cart,
           count(*) FILTER (WHERE t >= $cutoff - $w_long) AS u_n_events_recent,
           count(*) FILTER (WHERE t >= $cutoff - $w_short) AS u_n_events_last,
           count(*) FILTER (WHERE event_type = 'cart' AND t >= $cutoff - $w_long)
               AS u_n_cart_recent,
           count(*) FILTER (WHERE event_type = 'purchase' AND t >= $cutoff - $w_long)
               AS u_n_purchase_recent,
           count(DISTINCT sess_key) FILTER (WHERE t >= $cutoff - $w_long) AS u_n_sessions_recent,
           avg(price) FILTER (WHERE event_type = 'view') AS u_mean_view_price,
           sum(price) FILTER (WHERE event_type = 'purchase') AS u_purchase_value
    FROM sess
    GROUP BY user_id
),
ui AS (
    SELECT s.user_id, s.item_id,
           count(*) AS ui_n_events,
           count(*) FILTER (WHERE event_type = 'view') AS ui_n_view,
           count(*) FILTER (WHERE event_type = 'cart') AS ui_n_cart,
           count(*) FILTER (WHERE event_type = 'fav') AS ui_n_fav,
           count(*) FILTER (WHERE event_type = 'remove_from_cart') AS ui_n_remove,
           count(*) FILTER (WHERE event_type = 'purchase') AS ui_n_purchase,
           count(DISTINCT sess_key) AS ui_n_sessions,
           count(DISTINCT t // {US_PER_DAY}) AS ui_n_days,
           min(t) AS first_t,
           max(t) AS last_t,
           max(t) FILTER (WHERE event_type = 'view') AS last_view_t,
           max(t) FILTER (WHERE event_type = 'cart') AS last_cart_t,
           max(t) FILTER (WHERE event_type = 'fav') AS last_fav_t,
           max(t) FILTER (WHERE event_type = 'remove_from_cart') AS last_remove_t,
           count(*) FILTER (WHERE t >= $cutoff - $w_long) AS ui_n_events_recent,
           bool_or(s.sess_key = ls.last_key) AS in_last_session,
           min(t) FILTER (WHERE event_type = 'purchase') AS first_purchase_t,
           max(u_pos) AS last_u_pos,
           max(uc_pos) AS last_uc_pos,
           max(uc_purchase_pos) AS last_uc_purchase_pos,
           max(category) AS category,
           max(brand) AS brand,
           avg(price) AS price
    FROM sess AS s JOIN last_sess AS ls USING (user_id)
    GROUP BY s.user_id, s.item_id
),
ud AS (
    SELECT user_id,
           count(*) FILTER (WHERE ui_n_purchase > 0) AS u_n_bought_items,
           count(*) FILTER (WHERE first_purchase_t - first_t >= $w_long) AS u_n_delayed_buys
    FROM ui
    GROUP BY user_id
),
cand AS (
    SELECT *,
           CASE WHEN ui_n_cart > 0 AND (last_remove_t IS NULL OR last_cart_t > last_remove_t)
                THEN 1 ELSE 0 END AS open_cart,
           ($cutoff - last_cart_t) / {US_PER_HOUR}.0 AS hours_since_cart
    FROM ui
    WHERE ui_n_purchase = 0 AND ui_n_view + ui_n_cart + ui_n_fav > 0
),
it AS (
    SELECT item_id,
           count(*) FILTER (WHERE event_type = 'view') AS i_n_view,
           count(*) FILTER (WHERE event_type = 'cart') AS i_n_cart,
           count(*) FILTER (WHERE event_type = 'fav') AS i_n_fav,
           count(*) FILTER (WHERE event_type = 'purchase') AS i_n_purchase,
           count(DISTINCT user_id) AS i_n_users,
           count(*) FILTER (WHERE t >= $cutoff - $w_long) AS i_n_events_recent
    FROM hist_all
    GROUP BY item_id
),
cat AS (
    SELECT category,
           count(*) FILTER (WHERE event_type = 'view') AS c_n_view,
           count(*) FILTER (WHERE event_type = 'cart') AS c_n_cart,
           count(*) FILTER (WHERE event_type = 'purchase') AS c_n_purchase,
           count(DISTINCT item_id) AS c_n_items,
           avg(price) AS c_mean_price
    FROM hist_all
    WHERE category IS NOT NULL
    GROUP BY category
),
br AS (
    SELECT brand,
           count(*) FILTER (WHERE event_type = 'view') AS b_n_view,
           count(*) FILTER (WHERE event_type = 'cart') AS b_n_cart,
           count(*) FILTER (WHERE event_type = 'purchase') AS b_n_purchase
    FROM hist_all
    WHERE brand IS NOT NULL
    GROUP BY brand
),
uc AS (
    SELECT user_id, category,
           count(*) AS uc_n_events,
           count(*) FILTER (WHERE event_type = 'cart') AS uc_n_cart,
           count(*) FILTER (WHERE event_type = 'purchase') AS uc_n_purchase
    FROM hist
    WHERE category IS NOT NULL
    GROUP BY user_id, category
),
ca AS (
    SELECT user_id,
           count(*) AS n_candidates,
           sum(open_cart) AS n_open_carts,
           count(*) FILTER (WHERE ui_n_cart > 0) AS n_carted_items,
           count(*) FILTER (WHERE ui_n_fav > 0) AS n_fav_items,
           count(*) FILTER (WHERE in_last_session) AS n_items_last_session,
           count(*) FILTER (WHERE open_cart = 1 AND last_cart_t >= $cutoff - $w_long)
               AS n_open_carts_recent,
           min(hours_since_cart) FILTER (WHERE open_cart = 1) AS hours_since_open_cart,
           max(ui_n_events) AS max_item_events,
           max(ui_n_sessions) AS max_item_sessions
    FROM cand
    GROUP BY user_id
)
"""

_ITEM_SQL = _CTES + f"""
SELECT c.user_id, c.item_id,
       c.ui_n_events, c.ui_n_view, c.ui_n_cart, c.ui_n_fav, c.ui_n_remove,
       c.ui_n_sessions, c.ui_n_days, c.ui_n_events_recent, c.open_cart,
       CASE WHEN c.ui_n_cart > 0 THEN 3 WHEN c.ui_n_fav > 0 THEN 2 ELSE 1 END AS ui_stage,
       CAST(c.in_last_session AS INTEGER) AS ui_in_last_session,
       ($cutoff - c.last_t) / {US_PER_HOUR}.0 AS ui_hours_since_last,
       ($cutoff - c.first_t) / {US_PER_HOUR}.0 AS ui_hours_since_first,
       ($cutoff - c.last_view_t) / {US_PER_HOUR}.0 AS ui_hours_since_view,
       c.hours_since_cart AS ui_hours_since_cart,
       ($cutoff - c.last_fav_t) / {US_PER_HOUR}.0 AS ui_hours_since_fav,
       rank() OVER (PARTITION BY c.user_id ORDER BY c.last_t DESC) AS ui_recency_rank,
       c.ui_n_events / u.u_n_events AS ui_share,
       u.u_n_events - c.last_u_pos AS ui_events_after,
       ud.u_n_delayed_buys,
       ud.u_n_delayed_buys / (ud.u_n_bought_items + 1.0) AS u_delayed_buy_share,
       u.* EXCLUDE (user_id),
       ulr.* EXCLUDE (user_id),
       ca.n_candidates, ca.n_open_carts,
       it.i_n_view, it.i_n_cart, it.i_n_fav, it.i_n_purchase, it.i_n_users,
       it.i_n_events_recent,
       it.i_n_purchase / (it.i_n_view + 1.0) AS i_view_conv,
       it.i_n_purchase / (it.i_n_cart + 1.0) AS i_cart_conv,
       cat.c_n_view, cat.c_n_items,
       cat.c_n_purchase / (cat.c_n_view + 1.0) AS c_view_conv,
       cat.c_n_purchase / (cat.c_n_cart + 1.0) AS c_cart_conv,
       br.b_n_purchase / (br.b_n_view + 1.0) AS b_view_conv,
       br.b_n_purchase / (br.b_n_cart + 1.0) AS b_cart_conv,
       uc.uc_n_events, uc.uc_n_cart, uc.uc_n_purchase,
       uc.uc_n_events / u.u_n_events AS uc_share,
       uc.uc_n_events - c.last_uc_pos AS uc_events_after,
       uc.uc_n_purchase - c.last_uc_purchase_pos AS uc_purchases_after,
       c.price,
       c.price / nullif(u.u_mean_view_price, 0) AS price_rel_user,
       c.price / nullif(cat.c_mean_price, 0) AS price_rel_category
FROM cand AS c
JOIN u USING (user_id)
JOIN ca USING (user_id)
JOIN ud USING (user_id)
JOIN ulr USING (user_id)
LEFT JOIN it USING (item_id)
LEFT JOIN cat ON cat.category = c.category
LEFT JOIN br ON br.brand = c.brand
LEFT JOIN uc ON uc.user_id = c.user_id AND uc.category = c.category
ORDER BY c.user_id, c.item_id
"""

_USER_SQL = _CTES + """
SELECT u.*,
       u.u_n_purchase / (u.u_n_view + 1.0) AS u_view_conv,
       u.u_n_items_bought / (u.u_n_cart + 1.0) AS u_cart_conv,
       u.u_n_events / u.u_n_sessions AS u_events_per_session,
       u.u_n_purchase / u.u_active_days AS u_purchases_per_day,
       ulr.* EXCLUDE (user_id),
       ud.u_n_delayed_buys,
       ud.u_n_delayed_buys / (ud.u_n_bought_items + 1.0) AS u_delayed_buy_share,
       coalesce(ca.n_candidates, 0) AS n_candidates,
       coalesce(ca.n_open_carts, 0) AS n_open_carts,
       coalesce(ca.n_carted_items, 0) AS n_carted_items,
       coalesce(ca.n_fav_items, 0) AS n_fav_items,
       coalesce(ca.n_items_last_session, 0) AS n_items_last_session,
       coalesce(ca.n_open_carts_recent, 0) AS n_open_carts_recent,
       ca.hours_since_open_cart,
       ca.max_item_events,
       ca.max_item_sessions
FROM u
JOIN ud USING (user_id)
JOIN ulr USING (user_id)
LEFT JOIN ca USING (user_id)
ORDER BY u.user_id
"""

_ITEM_LABEL_SQL = f"""
SELECT DISTINCT user_id, item_id
FROM events
WHERE source = $source AND event_type = 'purchase' AND ts IS NOT NULL
  AND epoch_us(ts) >= $cutoff AND epoch_us(ts) < $cutoff + $horizon
  AND {USER_BUCKET_SQL}
"""

_USER_LABEL_SQL = f"""
SELECT DISTINCT user_id
FROM events
WHERE source = $source AND event_type = 'purchase' AND ts IS NOT NULL
  AND epoch_us(ts) >= $cutoff AND epoch_us(ts) < $cutoff + $horizon
  AND {USER_BUCKET_SQL}
"""


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    return query_df(con, sql, params)


def _as_float_features(df: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Ids as strings, every feature as float64 (NULL -> NaN) so models see one dtype."""
    out = df.copy()
    for col in out.columns:
        if col in keys:
            out[col] = out[col].astype("string").astype(object)
        else:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def item_features(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoff: TimeLike,
    config: IntentFeatureConfig | None = None,
    n_buckets: int = 1,
    bucket: int = 0,
) -> pd.DataFrame:
    """Candidate (user, item) pairs with their features as of `cutoff` (events before it only).

    Rows are the items a user viewed, carted or favourited before the cut-off and did not buy
    before it; use `n_buckets`/`bucket` to process users in hash buckets (bounded memory).
    """
    cfg = config or IntentFeatureConfig()
    params = {"source": source, **cfg.params(to_epoch_us(cutoff)),
              **user_bucket_params(n_buckets, bucket)}
    return _as_float_features(_query(con, _ITEM_SQL, params), ITEM_KEYS)


def user_features(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoff: TimeLike,
    config: IntentFeatureConfig | None = None,
    n_buckets: int = 1,
    bucket: int = 0,
) -> pd.DataFrame:
    """One row per user with events before `cutoff`: activity plus candidate-item aggregates."""
    cfg = config or IntentFeatureConfig()
    params = {"source": source, **cfg.params(to_epoch_us(cutoff)),
              **user_bucket_params(n_buckets, bucket)}
    return _as_float_features(_query(con, _USER_SQL, params), USER_KEYS)


def item_labels(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoff: TimeLike,
    horizon: DurationLike,
    n_buckets: int = 1,
    bucket: int = 0,
) -> pd.DataFrame:
    """(user, item) pairs bought in ``[cutoff, cutoff + horizon)``."""
    params = {"source": source, "cutoff": to_epoch_us(cutoff),
              "horizon": to_duration_us(horizon), **user_bucket_params(n_buckets, bucket)}
    df = _query(con, _ITEM_LABEL_SQL, params)
    return df.astype({"user_id": str, "item_id": str})


def user_labels(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoff: TimeLike,
    horizon: DurationLike,
    n_buckets: int = 1,
    bucket: int = 0,
) -> pd.DataFrame:
    """Users with at least one purchase in ``[cutoff, cutoff + horizon)``."""
    params = {"source": source, "cutoff": to_epoch_us(cutoff),
              "horizon": to_duration_us(horizon), **user_bucket_params(n_buckets, bucket)}
    return _query(con, _USER_LABEL_SQL, params).astype({"user_id": str})


def attach_labels(
    features: pd.DataFrame, positives: pd.DataFrame, keys: tuple[str, ...]
) -> np.ndarray:
    """0/1 label per feature row: 1 when the row's keys appear in `positives`."""
    if features.empty:
        return np.zeros(0, dtype=np.int64)
    if positives.empty:
        return np.zeros(len(features), dtype=np.int64)
    pos = pd.MultiIndex.from_frame(positives[list(keys)].astype(str))
    idx = pd.MultiIndex.from_frame(features[list(keys)].astype(str))
    return idx.isin(pos).astype(np.int64)


def feature_columns(df: pd.DataFrame, keys: tuple[str, ...]) -> list[str]:
    """The feature column names of a feature frame (everything but the id columns)."""
    return [c for c in df.columns if c not in keys]
