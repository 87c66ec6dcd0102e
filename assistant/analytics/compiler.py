"""Compile a validated `QueryPlan` into one parameterized SQL statement.

Only identifiers and expressions from the catalog are written into the SQL text; every value
from the plan (sources, categories, dates, thresholds, limit) is a `?` parameter.

Every query also counts the distinct users each row describes (`group_users`: for a metric
with a population, such as revenue, only its users, the purchasers). A grouped query
leaves out the groups with fewer than `min_group_size` users (a bound parameter) and reports
how many it left out (`hidden_groups`), so an answer never describes a handful of people.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from assistant.analytics.catalog import DIMENSIONS, METRICS
from assistant.analytics.plan import QueryPlan, UserCondition

TIME_DIMENSIONS = ("day", "week", "month", "year")
PER_USER_METRICS = frozenset({"median_events_per_user", "median_reviews_per_user"})
SESSION_SHARES = frozenset({"cart_session_purchase_rate", "session_conversion_rate"})
"""Metrics that need to know whether each event's session had a purchase."""
"""Metrics over each user's row count (the `user_rows` / `user_row` window columns)."""
USERS_COLUMN = "group_users"
"""Distinct users behind a result row, computed next to the metrics."""
HIDDEN_COLUMN = "hidden_groups"
"""Groups left out of a grouped result because they have too few users."""
DEFAULT_MIN_GROUP_SIZE = 5
"""Answers describe no group of fewer users than this unless the caller says otherwise."""


class PlanError(ValueError):
    """The plan is valid JSON but cannot run on this workspace (e.g. no scores yet)."""


@dataclass
class CompiledQuery:
    """SQL text with `?` placeholders and the values bound to them, in order."""

    sql: str
    params: list[object] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    cte: str = ""  # the `WITH filtered AS (…)` prefix alone, for probes over the same rows
    cte_params: list[object] = field(default_factory=list)


def _fact_sql(relation: str, plan: QueryPlan, has_scores: bool) -> str:
    scores_join = (
        "LEFT JOIN user_scores s ON s.source = f.source AND s.user_id = f.user_id"
        if has_scores else ""
    )
    score_cols = ("s.segment, s.intent_p_any, s.churn_risk" if has_scores else
                  "CAST(NULL AS INTEGER) AS segment, CAST(NULL AS DOUBLE) AS intent_p_any, "
                  "CAST(NULL AS DOUBLE) AS churn_risk")
    if relation == "events":
        return (f"SELECT f.source, f.user_id, f.item_id, f.event_type, f.ts, f.session_id, "
                f"f.price, f.rating, f.category, f.brand, {score_cols} "
                f"FROM events f {scores_join}")
    if relation == "reviews":
        return (f"SELECT f.source, f.user_id, f.item_id, CAST('review' AS VARCHAR) AS event_type, "
                f"f.ts, f.rating, f.helpful_votes, i.category, i.brand, {score_cols} "
                f"FROM reviews f "
                f"LEFT JOIN items i ON i.source = f.source AND i.item_id = f.item_id "
                f"{scores_join}")
    if not has_scores:
        raise PlanError("no user scores yet; run `insight score` to get intent, churn and "
                        "segments")
    return ("SELECT source, user_id, segment, intent_p_any, churn_risk FROM user_scores")


def _where(plan: QueryPlan, period: tuple[dt.date, dt.date] | None) -> tuple[str, list[object]]:
    f = plan.filters
    clauses: list[str] = []
    params: list[object] = []
    relation = plan.relation
    list_filters = {"source": f.source, "segment": f.segment}
    if relation != "scores":
        list_filters.update(category=f.category, brand=f.brand, item_id=f.item_id)
        if relation == "events":
            list_filters["event_type"] = list(f.event_type)
    elif (f.category or f.brand or f.item_id or f.event_type or f.date_from or f.date_to
          or f.min_rating is not None or f.max_rating is not None):
        raise PlanError("score metrics cannot be filtered by category, brand, item, event "
                        "type, date or rating")
    for column, values in list_filters.items():
        if values:
            if column == "segment":
                clauses.append("list_contains(CAST(? AS INTEGER[]), segment)")
            else:
                clauses.append(f"list_contains(CAST(? AS VARCHAR[]), {column})")
            params.append(list(values))
    start, end = period if period else (f.date_from, f.date_to)
    if start is not None:
        clauses.append("ts >= CAST(? AS TIMESTAMPTZ)")
        params.append(f"{start.isoformat()} 00:00:00+00")
    if end is not None:
        clauses.append("ts < CAST(? AS TIMESTAMPTZ)")
        params.append(f"{(end + dt.timedelta(days=1)).isoformat()} 00:00:00+00")
    bounds = (("rating >= ?", f.min_rating), ("rating <= ?", f.max_rating),
              ("intent_p_any >= ?", f.min_intent), ("churn_risk >= ?", f.min_churn))
    for clause, value in bounds:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    for condition in f.users:
        clause, values = _user_condition(condition)
        clauses.append(clause)
        params.extend(values)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _user_condition(condition: UserCondition) -> tuple[str, list[object]]:
    """SQL keeping the rows of users who meet `condition` over their whole history in their
    source (a semi-join on source + user, or an anti-join for "never")."""
    key = "source || chr(31) || user_id"
    clauses, params = [], []
    if condition.event_type:
        clauses.append("event_type = ?")
        params.append(condition.event_type)
    if condition.date_from is not None and condition.date_to is not None:  # within a period
        clauses.append("ts >= CAST(? AS TIMESTAMPTZ) AND ts < CAST(? AS TIMESTAMPTZ)")
        params += [f"{condition.date_from.isoformat()} 00:00:00+00",
                   f"{(condition.date_to + dt.timedelta(days=1)).isoformat()} 00:00:00+00"]
    kind = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    if condition.never:
        return f"{key} NOT IN (SELECT {key} FROM events {kind})", params
    counted = "count(DISTINCT session_id)" if condition.sessions else "count(*)"
    at_most, bounds = "", [condition.min_count]
    if condition.max_count is not None:
        at_most, bounds = f" AND {counted} <= ?", [condition.min_count, condition.max_count]
    return (f"{key} IN (SELECT {key} FROM events {kind} GROUP BY source, user_id "
            f"HAVING {counted} >= ?{at_most})", [*params, *bounds])


def compile_plan(
    plan: QueryPlan,
    has_scores: bool,
    period: tuple[dt.date, dt.date] | None = None,
    apply_limit: bool = True,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> CompiledQuery:
    """SQL for `plan` (optionally over another date `period`, for comparisons).

    Grouped plans keep only groups of at least `min_group_size` distinct users; every row
    carries `group_users` and, for grouped plans, `hidden_groups` (see the module docstring).
    """
    if min_group_size < 1:
        raise ValueError("min_group_size must be at least 1")
    relation = plan.relation
    if not has_scores and (plan.filters.segment or plan.filters.min_intent is not None
                           or plan.filters.min_churn is not None or "segment" in plan.group_by):
        raise PlanError("segments, intent and churn need user scores; run `insight score` first")
    where, params = _where(plan, period)
    extra: list[str] = []
    names = set(plan.metrics)
    if "cart_abandonment_rate" in names:
        extra += ["user_id || chr(31) || item_id AS pair",
                  "bool_or(event_type = 'purchase') OVER (PARTITION BY source, user_id, item_id)"
                  " AS pair_bought"]
    if "repeat_purchase_rate" in names:
        extra.append("count(*) FILTER (WHERE event_type = 'purchase') OVER "
                     "(PARTITION BY source, user_id) AS user_purchases")
    if names & SESSION_SHARES:
        extra.append("bool_or(event_type = 'purchase') OVER (PARTITION BY source, session_id)"
                     " AS session_bought")
    if names & PER_USER_METRICS:
        extra += ["count(*) OVER (PARTITION BY source, user_id) AS user_rows",
                  "row_number() OVER (PARTITION BY source, user_id) AS user_row"]
    if "average_order_value" in names:
        extra.append("user_id || chr(31) || coalesce(session_id, "
                     "strftime(timezone('UTC', ts), '%Y-%m-%d')) AS order_key")
    fact = _fact_sql(relation, plan, has_scores)
    filtered = f"SELECT *{''.join(', ' + e for e in extra)} FROM ({fact}){where}"
    cte, cte_params = f"WITH filtered AS ({filtered})", list(params)
    dims = [f"{DIMENSIONS[d]} AS {d}" for d in plan.group_by]
    metrics = [f"{METRICS[m].expression} AS {m}" for m in plan.metrics]
    counts = sorted({METRICS[m].users_sql() for m in plan.metrics})
    # several metrics: the smallest population that is not empty (least() skips NULLs)
    users = counts[0] if len(counts) == 1 else (
        f"coalesce(least({', '.join(f'nullif({c}, 0)' for c in counts)}), 0)")
    select = ", ".join(dims + metrics + [f"{users} AS {USERS_COLUMN}"])
    columns = list(plan.group_by) + list(plan.metrics)
    if not plan.group_by:
        return CompiledQuery(sql=f"{cte} SELECT {select} FROM filtered", params=params,
                             columns=columns, cte=cte, cte_params=cte_params)
    time_series = plan.order_by is None and plan.group_by[0] in TIME_DIMENSIONS
    # A group describing nobody (0 users, e.g. a brand without purchasers) hides no one; it
    # stays, except atop a "highest" ranking with hidden groups, which all rank above it.
    keep_zero = "true" if time_series or not plan.descending else f"{HIDDEN_COLUMN} = 0"
    # One row per group that is large enough; when none is, one all-NULL row still carries
    # the number of hidden groups (the LEFT JOIN keeps `hidden`).
    # a ranking names known values: rows without a brand / category are no "top brand"
    known = "" if time_series else " WHERE " + " AND ".join(
        f"{DIMENSIONS[d]} IS NOT NULL" for d in plan.group_by)
    enough = ""
    if plan.min_rows is not None:  # "items with at least 10 reviews"
        enough = " HAVING count(*) >= ?"
        params.append(plan.min_rows)
    sql = (f"{cte}, grouped AS (SELECT {select} FROM filtered{known} GROUP BY "
           f"{', '.join(plan.group_by)}{enough}), "
           f"hidden AS (SELECT count(*) AS {HIDDEN_COLUMN} FROM grouped "
           f"WHERE {USERS_COLUMN} > 0 AND {USERS_COLUMN} < ?) "
           f"SELECT grouped.*, hidden.{HIDDEN_COLUMN} FROM hidden LEFT JOIN grouped "
           f"ON grouped.{USERS_COLUMN} >= ? OR (grouped.{USERS_COLUMN} = 0 AND {keep_zero})")
    params += [min_group_size, min_group_size]
    if time_series:
        sql += " ORDER BY " + ", ".join(plan.group_by)  # a time series reads in time order
    else:
        order = plan.order_by if plan.order_by not in (None, "change") else plan.metrics[0]
        direction = "DESC" if plan.descending else "ASC"
        sql += f" ORDER BY {order} {direction} NULLS LAST, " + ", ".join(plan.group_by)
    if apply_limit:
        sql += " LIMIT ?"
        params.append(plan.limit)
    return CompiledQuery(sql=sql, params=params, columns=columns, cte=cte,
                         cte_params=cte_params)
