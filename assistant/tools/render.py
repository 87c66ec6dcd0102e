"""Deterministic answer sentences from an analytics result: every number comes from its rows.

The ask tool never lets the LLM write the numbers of an answer. These templates turn the
result table into one to three plain sentences (totals, top-1 with runners-up, comparisons with
the previous period), formatting values by the metric's unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.analytics.catalog import METRICS
from assistant.analytics.compiler import TIME_DIMENSIONS
from assistant.analytics.executor import AnalyticsResult, hidden_note

LABELS = {
    "users": "distinct users", "events": "events", "views": "views", "carts": "add-to-cart events",
    "favs": "favourite events", "purchases": "purchases", "reviews_written": "review events",
    "view_to_cart_rate": "view-to-cart rate", "cart_to_purchase_rate": "cart-to-purchase rate",
    "view_to_purchase_rate": "view-to-purchase rate",
    "cart_abandonment_rate": "cart abandonment rate",
    "repeat_purchase_rate": "repeat purchase rate",
    "revenue": "revenue", "average_order_value": "average order value",
    "mean_rating": "average rating", "review_count": "reviews",
    "mean_intent": "mean purchase intent", "mean_churn": "mean churn risk",
    "segment_size": "scored users", "buyers": "buyers (users with a purchase)",
    "cart_users": "users who added to cart", "categories": "distinct categories",
    "brands": "distinct brands", "items": "distinct items", "events_per_user": "events per user",
    "purchases_per_buyer": "purchases per buyer", "purchase_share": "share of events that are "
    "purchases", "max_purchase_price": "highest purchase price",
    "median_events_per_user": "median events per user", "reviewers": "distinct reviewers",
    "reviewed_items": "distinct reviewed items",
    "median_reviews_per_user": "median reviews per reviewer",
    "first_event_date": "date of the first event", "last_event_date": "date of the latest event",
    "first_review_date": "date of the first review",
    "last_review_date": "date of the latest review",
    "min_purchase_price": "lowest purchase price", "mean_price": "average price",
    "median_price": "median price", "price_total": "total price",
    "sessions": "distinct sessions", "events_per_session": "events per session",
    **{f"{kind}_per_{unit}": f"{label} per {unit}" for kind, label in (
        ("views", "views"), ("carts", "add-to-cart events"), ("favs", "favourite events"),
        ("purchases", "purchases")) for unit in ("user", "session")},
    "reviews_per_item": "reviews per item", "mean_helpful_votes": "average helpful votes",
    "unhelpful_reviews": "reviews with no helpful vote",
    "helpful_review_share": "share of reviews with a helpful vote",
    "cart_session_purchase_rate": "share of sessions with an add-to-cart that also had a "
    "purchase", "session_conversion_rate": "share of sessions with a purchase",
    "views_per_purchase": "views per purchase",
}
EVENT_WORDS = {"view": "view", "cart": "add-to-cart", "fav": "favourite", "purchase": "purchase",
               "remove_from_cart": "remove-from-cart", "review": "review"}
DIM_LABELS = {"item_id": "item", "event_type": "event type", "weekday": "day of the week"}
RUNNERS_UP = 2


def fmt_value(metric: str, value: Any) -> str:
    """A metric value as shown to people: counts with separators, rates as percentages."""
    if value is None:
        return "no data"
    unit = METRICS[metric].unit if metric in METRICS else "count"
    if unit == "date":
        return str(value)[:10]
    number = float(value)
    if unit == "rate":
        return f"{number * 100:.1f}%"
    if unit == "money":
        return f"{number:,.2f}"
    if unit == "rating":
        return f"{number:.2f}"
    if unit == "probability":
        return f"{number:.3f}"
    return f"{int(round(number)):,}" if number == int(number) else f"{number:,.2f}"


def fmt_change(metric: str, value: Any) -> str:
    """A signed change; rates change in percentage points."""
    if value is None:
        return "n/a"
    unit = METRICS[metric].unit if metric in METRICS else "count"
    number = float(value)
    sign = "+" if number > 0 else ("-" if number < 0 else "")
    if unit == "rate":
        return f"{sign}{abs(number) * 100:.1f} percentage points"
    return sign + fmt_value(metric, abs(number))


def fmt_key(dimension: str, value: Any) -> str:
    """A group key as shown: months as YYYY-MM, weeks as "week of DATE"."""
    if value is None:
        return "(unknown)"
    text = str(value)
    if dimension == "year":
        return text[:4]
    if dimension == "month":
        return text[:7]
    if dimension == "week":
        return f"week of {text[:10]}"
    if dimension == "day":
        return text[:10]
    return text


def _period_text(condition: Any) -> str:
    """ " in 2014" / " in 2014-03-01 to 2014-03-31" for a period-bounded condition, else ""."""
    start, end = condition.date_from, condition.date_to
    if start is None or end is None:
        return ""
    whole_year = (start.month, start.day, end.month, end.day) == (1, 1, 12, 31)
    return f" in {start.year}" if whole_year and start.year == end.year else f" in {start} to {end}"


def user_condition_text(condition: Any) -> str:
    """ "no purchase", "at least 3 purchase events", "at least 2 sessions": what a user
    condition of a plan keeps, in words."""
    kind = EVENT_WORDS.get(condition.event_type or "", "")
    if condition.never:
        return f"no {kind + ' ' if kind else ''}event{_period_text(condition)}"
    if condition.sessions:
        return f"at least {condition.min_count} sessions"
    noun = f"{kind} event" if kind else "event"
    if condition.max_count is not None:
        n, most = condition.min_count, condition.max_count
        exact = f"exactly {n}" if n == most else f"{n} to {most}"
        return f"{exact} {noun}" + ("" if most == 1 else "s")
    if condition.min_count == 1:
        return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"
    return f"at least {condition.min_count} {noun}s"


def _rating_text(low: float | None, high: float | None) -> str:
    if low is not None and low == high:
        return f"rated {low:g} stars"
    if low is not None and high is not None:
        return f"rated {low:g} to {high:g} stars"
    return f"rated {low:g} stars or more" if low is not None else f"rated {high:g} stars or less"


def filter_parts(f: Any) -> list[str]:
    """The filters of a plan (or of a share condition) in words, dates and sources aside."""
    parts = []
    for name, values in (("category", f.category), ("brand", f.brand), ("item", f.item_id),
                         ("event type", f.event_type), ("segment", f.segment)):
        if values:
            parts.append(f"for {name} {', '.join(str(v) for v in values)}")
    if (f.min_rating, f.max_rating) != (None, None):
        parts.append(_rating_text(f.min_rating, f.max_rating))
    if f.users:
        parts.append("among users with " + " and ".join(user_condition_text(c) for c in f.users))
    return parts


def scope_text(result: AnalyticsResult) -> str:
    """ " in taobao from 2017-11-27 to 2017-12-03" (empty parts left out)."""
    f = result.plan.filters
    parts = []
    if f.source:
        parts.append(f"in {', '.join(f.source)}")
    parts += filter_parts(f)
    if result.plan.min_rows is not None:
        rows = "reviews" if result.plan.relation == "reviews" else "events"
        parts.append(f"among those with at least {result.plan.min_rows} {rows}")
    if f.date_from and f.date_to:
        if f.date_from == f.date_to:
            parts.append(f"on {f.date_from.isoformat()}")
        else:
            parts.append(f"from {f.date_from.isoformat()} to {f.date_to.isoformat()}")
    return (" " + " ".join(parts)) if parts else ""


def _metrics_line(result: AnalyticsResult, row: dict[str, Any]) -> str:
    return ", ".join(f"{LABELS.get(m, m)} {fmt_value(m, row.get(m))}" for m in result.plan.metrics)


def _plain(result: AnalyticsResult) -> str:
    row = result.rows[0]
    metrics = result.plan.metrics
    if len(metrics) == 1:
        m = metrics[0]
        if METRICS[m].unit == "count" and not m.startswith("median"):
            return f"There are {fmt_value(m, row.get(m))} {LABELS.get(m, m)}{scope_text(result)}."
        return f"The {LABELS.get(m, m)}{scope_text(result)} is {fmt_value(m, row.get(m))}."
    return f"{scope_text(result).strip().capitalize() or 'Overall'}: {_metrics_line(result, row)}."


def _runners_up(dim: str, ranked: list[dict[str, Any]],
                value: Callable[[dict[str, Any]], str]) -> str:
    """` Next: a (v), b (v).` for the rows after the first (at most `RUNNERS_UP`), else ""."""
    rest = ranked[1: 1 + RUNNERS_UP]
    if not rest:
        return ""
    return " Next: " + ", ".join(f"{fmt_key(dim, r[dim])} ({value(r)})" for r in rest) + "."


def _grouped(result: AnalyticsResult) -> str:
    plan = result.plan
    dim = plan.group_by[0]
    m = plan.metrics[0]
    ranked = [r for r in result.rows if r.get(m) is not None]
    if not ranked:
        return f"No {LABELS.get(m, m)} data{scope_text(result)}."
    time_series = dim in TIME_DIMENSIONS and plan.order_by is None
    if time_series:  # rows come in time order; name the peak
        ranked = sorted(ranked, key=lambda r: r[m], reverse=plan.descending)
    top = ranked[0]
    word = "highest" if plan.descending else "lowest"
    measure = LABELS.get(m, m)
    if measure.startswith(word + " "):  # not "the highest highest purchase price"
        measure = measure[len(word) + 1:]
    label = DIM_LABELS.get(dim, dim)
    return (f"The {label} with the {word} {measure}{scope_text(result)} is "
            f"{fmt_key(dim, top[dim])} ({fmt_value(m, top[m])})."
            + _runners_up(dim, ranked, lambda r: fmt_value(m, r[m])))


def _compared(result: AnalyticsResult) -> str:
    plan = result.plan
    m = plan.metrics[0]
    prev = result.periods.get("previous", ["?", "?"])
    period = f"the previous period ({prev[0]} to {prev[1]})"
    if plan.compare_from is not None:  # a period the question named, not the one just before
        period = (f"the other period, {prev[0]}" if prev[0] == prev[1] else
                  f"the other period ({prev[0]} to {prev[1]})")
    if not plan.group_by:
        row = result.rows[0]
        now = fmt_value(m, row.get(m))
        head = (f"There were {now} {LABELS.get(m, m)}{scope_text(result)}"
                if METRICS[m].unit == "count" else
                f"The {LABELS.get(m, m)}{scope_text(result)} was {now}")
        return (f"{head}, against {fmt_value(m, row.get(f'{m}_previous'))} in {period}: a "
                f"change of {fmt_change(m, row.get(f'{m}_change'))}.")
    dim = plan.group_by[0]
    label = DIM_LABELS.get(dim, dim)
    rows = [r for r in result.rows if r.get("change") is not None]
    if not rows:
        return f"No {label} has {LABELS.get(m, m)} in both periods{scope_text(result)}."
    top = rows[0]
    verb = "fell most" if not plan.descending else "grew most"
    if plan.order_by != "change":
        verb = "ranks first"
    return (f"The {label} whose {LABELS.get(m, m)} {verb}{scope_text(result)} is "
            f"{fmt_key(dim, top[dim])}: {fmt_value(m, top.get(f'{m}_previous'))} in {period} "
            f"→ {fmt_value(m, top.get(m))} ({fmt_change(m, top.get('change'))})."
            + _runners_up(dim, rows, lambda r: fmt_change(m, r.get("change"))))


def _share(result: AnalyticsResult) -> str:
    plan = result.plan
    m = plan.metrics[0]
    row = result.rows[0]
    condition = " ".join(filter_parts(plan.share_condition)) or "the condition"
    return (f"{row['share'] * 100:.1f}% of the {LABELS.get(m, m)}{scope_text(result)} "
            f"({fmt_value(m, row[m])} of {fmt_value(m, row[f'{m}_of_all'])}) are {condition}.")


def render_answer(result: AnalyticsResult) -> str:
    """The answer sentence(s) for an answerable result, saying how many small groups are hidden."""
    if result.plan.share_condition is not None:
        return _share(result)
    if result.plan.compare_previous_period:
        text = _compared(result)
    elif result.plan.group_by:
        text = _grouped(result)
    else:
        text = _plain(result)
    if result.hidden_groups:
        text += f" {hidden_note(result.hidden_groups, result.min_group_size).capitalize()}."
    return text
