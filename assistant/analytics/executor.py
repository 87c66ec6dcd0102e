"""Run a compiled plan on a read-only DuckDB connection and return a table plus a chart spec."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from assistant.analytics.catalog import METRICS
from assistant.analytics.compiler import CompiledQuery, PlanError, compile_plan
from assistant.analytics.plan import QueryPlan


@dataclass
class AnalyticsResult:
    """The answer's only source of numbers: rows from SQL, with the plan and SQL that made them."""

    plan: QueryPlan
    columns: list[str]
    rows: list[dict[str, Any]]
    sql: list[str]
    params: list[list[Any]]
    chart: dict[str, Any] | None = None
    answerable: bool = True
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    periods: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the CLI and UI."""
        return {
            "plan": self.plan.model_dump(mode="json"),
            "columns": self.columns,
            "rows": self.rows,
            "sql": self.sql,
            "params": [[str(p) for p in ps] for ps in self.params],
            "chart": self.chart,
            "answerable": self.answerable,
            "reason": self.reason,
            "notes": self.notes,
            "periods": self.periods,
        }


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table or view exists in the workspace database."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal", [name]
    ).fetchone()
    return bool(row and row[0])


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _run(con: duckdb.DuckDBPyConnection, query: CompiledQuery) -> pd.DataFrame:
    return con.execute(query.sql, query.params).df()


def _needs_check(con: duckdb.DuckDBPyConnection, plan: QueryPlan, has_scores: bool) -> str | None:
    """A reason the data cannot answer (e.g. no prices in these sources), or None."""
    needs = {METRICS[m].needs for m in plan.metrics if METRICS[m].needs}
    if not needs:
        return None
    probe = plan.model_copy(update={"group_by": [], "compare_previous_period": False,
                                    "order_by": None})
    base = compile_plan(probe, has_scores, apply_limit=False)
    for column in sorted(needs):
        sql = base.sql.split(" SELECT ", 1)[0] + f" SELECT count({column}) FROM filtered"
        if con.execute(sql, base.params).fetchone()[0] == 0:
            available = _sources_with(con, column, plan.relation, has_scores)
            where = (f"; sources with {column} data: {', '.join(available)}" if available
                     else f"; no source in this workspace has {column} data")
            return f"the selected data has no {column} values{where}"
    return None


def _sources_with(con: duckdb.DuckDBPyConnection, column: str, relation: str,
                  has_scores: bool) -> list[str]:
    table = {"events": "events", "reviews": "reviews", "scores": "user_scores"}[relation]
    if table == "user_scores" and not has_scores:
        return []
    rows = con.execute(
        f"SELECT source FROM {table} GROUP BY source HAVING count({column}) > 0 ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def run_plan(con: duckdb.DuckDBPyConnection, plan: QueryPlan) -> AnalyticsResult:
    """Execute `plan`: one query, or two (this period and the one before) for comparisons."""
    con.execute("SET TimeZone = 'UTC'")
    scores = has_table(con, "user_scores")
    reason = _needs_check(con, plan, scores)
    if reason:
        return AnalyticsResult(plan=plan, columns=[], rows=[], sql=[], params=[],
                               answerable=False, reason=reason)
    current = compile_plan(plan, scores, apply_limit=not plan.compare_previous_period)
    frame = _run(con, current)
    sqls, params = [current.sql], [current.params]
    periods: dict[str, list[str]] = {}
    columns = list(current.columns)
    if plan.compare_previous_period:
        start, end = plan.filters.date_from, plan.filters.date_to
        assert start is not None and end is not None  # guaranteed by plan validation
        length = (end - start).days + 1
        previous = (start - dt.timedelta(days=length), start - dt.timedelta(days=1))
        periods = {"current": [start.isoformat(), end.isoformat()],
                   "previous": [previous[0].isoformat(), previous[1].isoformat()]}
        before_q = compile_plan(plan, scores, period=previous, apply_limit=False)
        before = _run(con, before_q)
        sqls.append(before_q.sql)
        params.append(before_q.params)
        frame = _merge_periods(plan, frame, before)
        columns = list(frame.columns)
    if frame.empty:
        return AnalyticsResult(plan=plan, columns=columns, rows=[], sql=sqls, params=params,
                               answerable=False, reason="no rows match these filters",
                               periods=periods)
    rows = [{k: _clean(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
    return AnalyticsResult(plan=plan, columns=columns, rows=rows, sql=sqls, params=params,
                           chart=chart_spec(plan, columns), periods=periods)


def _merge_periods(plan: QueryPlan, current: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    keys = list(plan.group_by)
    first = plan.metrics[0]
    if keys:
        merged = current.merge(before, on=keys, how="outer", suffixes=("", "_previous"))
    else:
        merged = pd.concat([current, before.add_suffix("_previous")], axis=1)
    for metric in plan.metrics:
        if METRICS[metric].unit in ("count", "money"):  # absent in a period = none there
            for column in (metric, f"{metric}_previous"):
                merged[column] = merged[column].astype("float64").fillna(0.0)
        merged[f"{metric}_change"] = merged[metric] - merged[f"{metric}_previous"]
    merged["change"] = merged[f"{first}_change"]
    order = "change" if plan.order_by == "change" else (plan.order_by or first)
    merged = merged.sort_values(order, ascending=not plan.descending, na_position="last")
    return merged.head(plan.limit).reset_index(drop=True)


def chart_spec(plan: QueryPlan, columns: list[str]) -> dict[str, Any] | None:
    """A small Vega-Lite-like spec the UI can draw: bar for categories, line for time."""
    if not plan.group_by:
        return None
    x = plan.group_by[0]
    y = "change" if plan.order_by == "change" else plan.metrics[0]
    temporal = x in ("day", "week", "month")
    mark = "line" if temporal else "bar"
    unit = "count" if y == "change" else METRICS[y].unit
    spec: dict[str, Any] = {
        "mark": mark, "x": x, "y": y,
        "x_type": "temporal" if temporal else "nominal",
        "y_format": {"rate": "percent", "money": "money"}.get(unit, "number"),
        "title": f"{y.replace('_', ' ')} by {x.replace('_', ' ')}",
    }
    if len(plan.group_by) > 1:
        spec["color"] = plan.group_by[1]
    return spec


__all__ = ["AnalyticsResult", "PlanError", "has_table", "run_plan"]
