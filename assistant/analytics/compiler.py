"""Compile a validated `QueryPlan` into one parameterized SQL statement.

Only identifiers and expressions from the catalog are written into the SQL text; every value
from the plan (sources, categories, dates, thresholds, limit) is a `?` parameter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from assistant.analytics.catalog import DIMENSIONS, METRICS
from assistant.analytics.plan import QueryPlan

TIME_DIMENSIONS = ("day", "week", "month")


class PlanError(ValueError):
    """The plan is valid JSON but cannot run on this workspace (e.g. no scores yet)."""


@dataclass
class CompiledQuery:
    """SQL text with `?` placeholders and the values bound to them, in order."""

    sql: str
    params: list[object] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


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
                f"f.ts, f.rating, i.category, i.brand, {score_cols} FROM reviews f "
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
    elif f.category or f.brand or f.item_id or f.event_type or f.date_from or f.date_to:
        raise PlanError("score metrics cannot be filtered by category, brand, item, event "
                        "type or date")
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
    if f.min_intent is not None:
        clauses.append("intent_p_any >= ?")
        params.append(f.min_intent)
    if f.min_churn is not None:
        clauses.append("churn_risk >= ?")
        params.append(f.min_churn)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def compile_plan(
    plan: QueryPlan,
    has_scores: bool,
    period: tuple[dt.date, dt.date] | None = None,
    apply_limit: bool = True,
) -> CompiledQuery:
    """SQL for `plan` (optionally over another date `period`, for comparisons)."""
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
    if "average_order_value" in names:
        extra.append("user_id || chr(31) || coalesce(session_id, "
                     "strftime(timezone('UTC', ts), '%Y-%m-%d')) AS order_key")
    fact = _fact_sql(relation, plan, has_scores)
    filtered = f"SELECT *{''.join(', ' + e for e in extra)} FROM ({fact}){where}"
    dims = [f"{DIMENSIONS[d]} AS {d}" for d in plan.group_by]
    metrics = [f"{METRICS[m].expression} AS {m}" for m in plan.metrics]
    select = ", ".join(dims + metrics)
    sql = f"WITH filtered AS ({filtered}) SELECT {select} FROM filtered"
    if plan.group_by:
        sql += " GROUP BY " + ", ".join(plan.group_by)
        if plan.order_by is None and plan.group_by[0] in TIME_DIMENSIONS:
            sql += " ORDER BY " + ", ".join(plan.group_by)  # a time series reads in time order
        else:
            order = plan.order_by if plan.order_by not in (None, "change") else plan.metrics[0]
            direction = "DESC" if plan.descending else "ASC"
            sql += f" ORDER BY {order} {direction} NULLS LAST, " + ", ".join(plan.group_by)
        if apply_limit:
            sql += " LIMIT ?"
            params.append(plan.limit)
    return CompiledQuery(sql=sql, params=params, columns=list(plan.group_by) + list(plan.metrics))
