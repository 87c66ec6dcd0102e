"""The DuckDB SQL behind the purchase-intent features (see :mod:`.intent_features`).

Both queries share one set of CTEs over the events before the cut-off (``$cutoff``) and after
``$start``, restricted to one user bucket: sessions, user activity and long-run rates, the
user-item funnel, item / category / brand popularity and the candidate-item aggregates.
:data:`ITEM_FEATURES_SQL` returns one row per candidate (user, item), :data:`USER_FEATURES_SQL`
one row per user.
"""

from __future__ import annotations

from predictors.features import US_PER_DAY, US_PER_HOUR, USER_BUCKET_SQL

FUNNEL_TYPES: tuple[str, ...] = ("view", "cart", "fav", "remove_from_cart", "purchase")
"""The event types counted per user and per user-item pair, in column order."""


def _type_counts(prefix: str, types: tuple[str, ...] = FUNNEL_TYPES) -> str:
    """SQL select items counting each event type as ``<prefix>_n_<type>`` (``remove_from_cart``
    is named ``remove``), one a line, each followed by a comma."""
    names = {t: "remove" if t == "remove_from_cart" else t for t in types}
    return "\n           ".join(
        f"count(*) FILTER (WHERE event_type = '{t}') AS {prefix}_n_{name},"
        for t, name in names.items()
    )


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
           {_type_counts("u")}
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
           {_type_counts("ui")}
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
           {_type_counts("i", ("view", "cart", "fav", "purchase"))}
           count(DISTINCT user_id) AS i_n_users,
           count(*) FILTER (WHERE t >= $cutoff - $w_long) AS i_n_events_recent
    FROM hist_all
    GROUP BY item_id
),
cat AS (
    SELECT category,
           {_type_counts("c", ("view", "cart", "purchase"))}
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

ITEM_FEATURES_SQL = _CTES + f"""
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

USER_FEATURES_SQL = _CTES + """
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
