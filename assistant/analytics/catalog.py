"""The fixed catalog of metrics and dimensions an operator question can use.

Each metric is a SQL aggregate over one fact relation. Only the fragments written here ever
reach SQL text; the values a plan carries (filters, dates, thresholds) are bound as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric: its aggregate expression, the relation it reads, and what it means."""

    name: str
    expression: str
    relation: str  # "events", "reviews" or "scores"
    description: str
    unit: str = "count"  # count | rate | money | rating | probability | date
    needs: str | None = None  # a column that must have data (e.g. price)
    population: tuple[str, ...] = ()  # event types of the users it describes; () = every row

    def users_sql(self) -> str:
        """SQL counting the distinct users this metric describes (for small-group suppression):
        e.g. the purchasers behind revenue, not everyone who viewed the brand."""
        if not self.population:
            return "count(DISTINCT user_id)"
        kinds = ", ".join(f"'{kind}'" for kind in self.population)
        return f"count(DISTINCT user_id) FILTER (WHERE event_type IN ({kinds}))"


_FUNNEL = "count(*) FILTER (WHERE event_type = '{a}')"
_PER = [("views", "view", "view events"), ("carts", "cart", "add-to-cart events"),
        ("favs", "fav", "favourite events"), ("purchases", "purchase", "purchase events")]
"""Event kinds with per-user and per-session means: (metric prefix, event type, label)."""

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("users", "count(DISTINCT user_id)", "events", "distinct active users"),
        Metric("events", "count(*)", "events", "number of events"),
        Metric("views", _FUNNEL.format(a="view"), "events", "view events", population=("view",)),
        Metric("carts", _FUNNEL.format(a="cart"), "events", "add-to-cart events",
               population=("cart",)),
        Metric("favs", _FUNNEL.format(a="fav"), "events", "favourite events", population=("fav",)),
        Metric("purchases", _FUNNEL.format(a="purchase"), "events", "purchase events",
               population=("purchase",)),
        Metric("reviews_written", _FUNNEL.format(a="review"), "events", "review events",
               population=("review",)),
        Metric(
            "view_to_cart_rate",
            f"{_FUNNEL.format(a='cart')} / nullif({_FUNNEL.format(a='view')}, 0)",
            "events", "add-to-cart events per view event", "rate", population=("view", "cart"),
        ),
        Metric(
            "cart_to_purchase_rate",
            f"{_FUNNEL.format(a='purchase')} / nullif({_FUNNEL.format(a='cart')}, 0)",
            "events", "purchase events per add-to-cart event", "rate",
            population=("cart", "purchase"),
        ),
        Metric(
            "view_to_purchase_rate",
            f"{_FUNNEL.format(a='purchase')} / nullif({_FUNNEL.format(a='view')}, 0)",
            "events", "purchase events per view event", "rate",
            population=("view", "purchase"),
        ),
        Metric(
            "cart_abandonment_rate",
            "1 - count(DISTINCT CASE WHEN event_type = 'cart' AND pair_bought THEN pair END)"
            " / nullif(count(DISTINCT CASE WHEN event_type = 'cart' THEN pair END), 0)",
            "events", "share of carted user-item pairs never purchased", "rate",
            population=("cart",),
        ),
        Metric(
            "repeat_purchase_rate",
            "count(DISTINCT CASE WHEN user_purchases >= 2 THEN user_id END)"
            " / nullif(count(DISTINCT CASE WHEN user_purchases >= 1 THEN user_id END), 0)",
            "events", "share of purchasing users with two or more purchases", "rate",
            population=("purchase",),
        ),
        Metric(
            "revenue", "sum(price) FILTER (WHERE event_type = 'purchase')", "events",
            "sum of purchase prices", "money", needs="price", population=("purchase",),
        ),
        Metric(
            "average_order_value",
            "sum(price) FILTER (WHERE event_type = 'purchase')"
            " / nullif(count(DISTINCT CASE WHEN event_type = 'purchase' THEN order_key END), 0)",
            "events", "revenue per order (an order = a user's purchases in one session, or one "
            "day when sessions are unknown)", "money", needs="price",
            population=("purchase",),
        ),
        Metric("buyers", "count(DISTINCT user_id) FILTER (WHERE event_type = 'purchase')",
               "events", "distinct users with at least one purchase", population=("purchase",)),
        Metric("cart_users", "count(DISTINCT user_id) FILTER (WHERE event_type = 'cart')",
               "events", "distinct users with at least one add-to-cart", population=("cart",)),
        Metric("categories", "count(DISTINCT category)", "events", "distinct categories",
               needs="category"),
        Metric("brands", "count(DISTINCT brand)", "events", "distinct brands", needs="brand"),
        Metric("items", "count(DISTINCT item_id)", "events", "distinct items (products)"),
        Metric("events_per_user", "count(*) / nullif(count(DISTINCT user_id), 0)", "events",
               "mean number of events per distinct user"),
        Metric(
            "purchases_per_buyer",
            f"{_FUNNEL.format(a='purchase')} / nullif(count(DISTINCT user_id) FILTER "
            "(WHERE event_type = 'purchase'), 0)",
            "events", "mean number of purchases per buying user", population=("purchase",),
        ),
        Metric(
            "views_per_purchase",
            f"{_FUNNEL.format(a='view')} / nullif({_FUNNEL.format(a='purchase')}, 0)",
            "events", "view events per purchase event", population=("view", "purchase"),
        ),
        Metric("purchase_share", f"{_FUNNEL.format(a='purchase')} / nullif(count(*), 0)",
               "events", "share of all events that are purchases", "rate"),
        Metric("max_purchase_price", "max(price) FILTER (WHERE event_type = 'purchase')",
               "events", "highest price paid in one purchase", "money", needs="price",
               population=("purchase",)),
        Metric("median_events_per_user", "median(user_rows) FILTER (WHERE user_row = 1)",
               "events", "median number of events per user (of the kinds filtered)"),
        Metric("min_purchase_price", "min(price) FILTER (WHERE event_type = 'purchase')",
               "events", "lowest price paid in one purchase", "money", needs="price",
               population=("purchase",)),
        Metric("mean_price", "avg(price)", "events",
               "mean price of the events' items (filter an event type: viewed, bought)",
               "money", needs="price"),
        Metric("price_total", "sum(price)", "events",
               "sum of the prices of the events' items (filter an event type: carted, viewed)",
               "money", needs="price"),
        Metric("median_price", "median(price)", "events",
               "median price of the events' items (filter an event type: viewed, bought)",
               "money", needs="price"),
        Metric("sessions", "count(DISTINCT session_id)", "events",
               "distinct sessions (with an event type filter: sessions with such an event)",
               needs="session_id"),
        *[Metric(f"{name}_per_user", f"{_FUNNEL.format(a=kind)} / nullif(count(DISTINCT "
                 "user_id), 0)", "events", f"mean {label} per user (of all users)")
          for name, kind, label in _PER],
        *[Metric(f"{name}_per_session", f"{_FUNNEL.format(a=kind)} / nullif(count(DISTINCT "
                 "session_id), 0)", "events", f"mean {label} per session", needs="session_id")
          for name, kind, label in _PER],
        Metric("events_per_session", "count(*) / nullif(count(DISTINCT session_id), 0)",
               "events", "mean events per session", needs="session_id"),
        Metric(
            "cart_session_purchase_rate",
            "count(DISTINCT CASE WHEN event_type = 'cart' AND session_bought THEN session_id END)"
            " / nullif(count(DISTINCT CASE WHEN event_type = 'cart' THEN session_id END), 0)",
            "events", "share of sessions with an add-to-cart that also had a purchase", "rate",
            needs="session_id", population=("cart",),
        ),
        Metric(
            "session_conversion_rate",
            "count(DISTINCT CASE WHEN session_bought THEN session_id END)"
            " / nullif(count(DISTINCT session_id), 0)",
            "events", "share of sessions with a purchase", "rate", needs="session_id",
        ),
        Metric("first_event_date", "CAST(min(ts) AS DATE)", "events", "date of the first event",
               "date"),
        Metric("last_event_date", "CAST(max(ts) AS DATE)", "events", "date of the latest event",
               "date"),
        Metric("mean_rating", "avg(rating)", "reviews", "average review rating", "rating",
               needs="rating"),
        Metric("review_count", "count(*)", "reviews", "number of reviews"),
        Metric("reviewers", "count(DISTINCT user_id)", "reviews", "distinct users who reviewed"),
        Metric("reviewed_items", "count(DISTINCT item_id)", "reviews",
               "distinct items (products) with a review"),
        Metric("reviews_per_item", "count(*) / nullif(count(DISTINCT item_id), 0)",
               "reviews", "mean number of reviews per reviewed item"),
        Metric("mean_helpful_votes", "avg(coalesce(helpful_votes, 0))", "reviews",
               "mean helpful votes per review", needs="helpful_votes"),
        Metric("unhelpful_reviews", "count(*) FILTER (WHERE coalesce(helpful_votes, 0) = 0)",
               "reviews", "reviews with no helpful vote", needs="helpful_votes"),
        Metric("helpful_review_share",
               "avg(CASE WHEN helpful_votes >= 1 THEN 1.0 ELSE 0.0 END)", "reviews",
               "share of reviews with at least one helpful vote", "rate",
               needs="helpful_votes"),
        Metric("median_reviews_per_user", "median(user_rows) FILTER (WHERE user_row = 1)",
               "reviews", "median number of reviews per reviewer"),
        Metric("first_review_date", "CAST(min(ts) AS DATE)", "reviews",
               "date of the first review", "date"),
        Metric("last_review_date", "CAST(max(ts) AS DATE)", "reviews",
               "date of the latest review", "date"),
        Metric("mean_intent", "avg(intent_p_any)", "scores",
               "mean predicted purchase probability in the horizon", "probability",
               needs="intent_p_any"),
        Metric("mean_churn", "avg(churn_risk)", "scores", "mean predicted churn risk",
               "probability", needs="churn_risk"),
        Metric("segment_size", "count(*)", "scores", "number of scored users"),
    ]
}

DIMENSIONS: dict[str, str] = {
    "source": "source",
    "event_type": "event_type",
    "category": "category",
    "brand": "brand",
    "item_id": "item_id",
    "segment": "segment",
    "day": "date_trunc('day', ts)",
    "week": "date_trunc('week', ts)",
    "month": "date_trunc('month', ts)",
    "year": "date_trunc('year', ts)",
    "weekday": "dayname(ts)",
}
"""Group-by dimensions: name → SQL expression over the fact relation."""

DIMENSIONS_BY_RELATION: dict[str, set[str]] = {
    "events": {"source", "event_type", "category", "brand", "item_id", "segment", "day", "week",
               "month", "year", "weekday"},
    "reviews": {"source", "item_id", "category", "brand", "segment", "day", "week", "month",
                "year", "weekday"},
    "scores": {"source", "segment"},
}
