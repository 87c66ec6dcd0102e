"""Run a compiled plan on a read-only DuckDB connection and return a table plus a chart spec.

Small groups are suppressed here: a grouped result keeps only groups of at least
`min_group_size` distinct users (counted in SQL), and a single-row answer that describes fewer
users than that is withheld with the reason, never shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from assistant.analytics.catalog import METRICS
from assistant.analytics.compiler import (
    DEFAULT_MIN_GROUP_SIZE,
    HIDDEN_COLUMN,
    TIME_DIMENSIONS,
    USERS_COLUMN,
    CompiledQuery,
    PlanError,
    compile_plan,
)
from assistant.analytics.plan import QueryPlan
from store.queries import table_exists

log = logging.getLogger(__name__)


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
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    hidden_groups: int = 0

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
            "min_group_size": self.min_group_size,
            "hidden_groups": self.hidden_groups,
        }


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
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
        sql = f"{base.cte} SELECT count({column}) FROM filtered"
        if con.execute(sql, base.cte_params).fetchone()[0] == 0:
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


def hidden_note(hidden: int, min_group_size: int) -> str:
    """ "3 groups with fewer than 5 users are hidden" (the answer's suppression sentence)."""
    groups = "group" if hidden == 1 else "groups"
    verb = "is" if hidden == 1 else "are"
    return f"{hidden} {groups} with fewer than {min_group_size} users {verb} hidden"


def all_hidden(hidden: int, min_group_size: int) -> str:
    """Why a grouped question has no answer: every group is too small to show."""
    if hidden == 1:
        return (f"the only group has fewer than {min_group_size} users, so it is hidden to "
                "protect their privacy")
    return (f"all {hidden} groups have fewer than {min_group_size} users, so they are hidden "
            "to protect their privacy")


def withheld_reason(min_group_size: int) -> str:
    """Why a single-row answer about too few users is not shown."""
    return (f"the answer would describe fewer than {min_group_size} users, so it is withheld "
            "to protect their privacy")


def _small(users: Any, min_group_size: int) -> bool:
    """A group of 1 … min_group_size-1 users (an empty group describes nobody)."""
    if users is None or pd.isna(users):
        return False
    return 0 < int(users) < min_group_size


def _split_hidden(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The visible groups of a grouped query and the count of hidden ones."""
    hidden = 0
    if HIDDEN_COLUMN in frame.columns and not frame.empty:
        hidden = int(frame[HIDDEN_COLUMN].iloc[0] or 0)
    if USERS_COLUMN in frame.columns:
        frame = frame[frame[USERS_COLUMN].notna()]  # the padding row when none is visible
    return frame.drop(columns=[HIDDEN_COLUMN], errors="ignore").reset_index(drop=True), hidden


def run_plan(con: duckdb.DuckDBPyConnection, plan: QueryPlan,
             min_group_size: int = DEFAULT_MIN_GROUP_SIZE) -> AnalyticsResult:
    """Execute `plan`: one query, or two (this period and the one before) for comparisons.

    Groups of fewer than `min_group_size` distinct users are left out and counted in
    `hidden_groups`; a single-row result about that few users is withheld.
    """
    con.execute("SET TimeZone = 'UTC'")
    if len(plan.by_relation()) > 1:
        return _run_across(con, plan, min_group_size)
    scores = table_exists(con, "user_scores")
    reason = _needs_check(con, plan, scores)
    if reason:
        return AnalyticsResult(plan=plan, columns=[], rows=[], sql=[], params=[],
                               answerable=False, reason=reason, min_group_size=min_group_size)
    if plan.share_condition is not None:
        return _run_share(con, plan, scores, min_group_size)
    comparing = plan.compare_previous_period
    # comparisons suppress after merging both periods (a group small in either is hidden)
    in_sql = 1 if comparing else min_group_size
    current = compile_plan(plan, scores, apply_limit=not comparing, min_group_size=in_sql)
    frame, hidden = _split_hidden(_run(con, current))
    sqls, params = [current.sql], [current.params]
    periods: dict[str, list[str]] = {}
    if comparing:
        start, end = plan.filters.date_from, plan.filters.date_to
        assert start is not None and end is not None  # guaranteed by plan validation
        length = (end - start).days + 1
        previous = (start - dt.timedelta(days=length), start - dt.timedelta(days=1))
        if plan.compare_from is not None and plan.compare_to is not None:
            previous = (plan.compare_from, plan.compare_to)  # the other period, as asked
        periods = {"current": [start.isoformat(), end.isoformat()],
                   "previous": [previous[0].isoformat(), previous[1].isoformat()]}
        before_q = compile_plan(plan, scores, period=previous, apply_limit=False,
                                min_group_size=in_sql)
        before, _ = _split_hidden(_run(con, before_q))
        sqls.append(before_q.sql)
        params.append(before_q.params)
        frame, hidden = _merge_periods(plan, frame, before, min_group_size)
    users_columns = [c for c in frame.columns if c.startswith(USERS_COLUMN)]
    common: dict[str, Any] = dict(plan=plan, sql=sqls, params=params, periods=periods,
                                  min_group_size=min_group_size, hidden_groups=hidden)
    if not plan.group_by and not frame.empty and any(
            _small(frame[c].iloc[0], min_group_size) for c in users_columns):
        log.info("withheld a single-row answer about fewer than %d users", min_group_size)
        return AnalyticsResult(columns=[], rows=[], answerable=False,
                               reason=withheld_reason(min_group_size), **common)
    frame = frame.drop(columns=users_columns)
    columns = list(frame.columns)
    notes = [hidden_note(hidden, min_group_size)] if hidden else []
    if frame.empty:
        reason = (all_hidden(hidden, min_group_size) if hidden
                  else "no rows match these filters")
        return AnalyticsResult(columns=columns, rows=[], answerable=False, reason=reason,
                               notes=notes, **common)
    rows = [{k: _clean(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
    return AnalyticsResult(columns=columns, rows=rows, chart=chart_spec(plan, columns),
                           notes=notes, **common)


def _run_across(con: duckdb.DuckDBPyConnection, plan: QueryPlan,
                min_group_size: int) -> AnalyticsResult:
    """Plain totals from two relations ("how many reviewers and how many items"): one query
    per relation, each with its own checks, merged into one row in the order asked."""
    parts = [run_plan(con, plan.model_copy(update={"metrics": metrics}), min_group_size)
             for metrics in plan.by_relation()]
    sqls = [sql for part in parts for sql in part.sql]
    params = [p for part in parts for p in part.params]
    failed = next((part for part in parts if not part.answerable), None)
    if failed is not None:
        return AnalyticsResult(plan=plan, columns=[], rows=[], sql=sqls, params=params,
                               answerable=False, reason=failed.reason,
                               min_group_size=min_group_size)
    row = {k: v for part in parts for k, v in part.rows[0].items()}
    return AnalyticsResult(plan=plan, columns=list(plan.metrics),
                           rows=[{m: row.get(m) for m in plan.metrics}], sql=sqls,
                           params=params, min_group_size=min_group_size)


SHARE_COLUMN = "share"
"""The share column of a share plan: the metric under the condition / the metric overall."""


def _run_share(con: duckdb.DuckDBPyConnection, plan: QueryPlan, scores: bool,
               min_group_size: int) -> AnalyticsResult:
    """A share: the metric with the share condition over the metric without it, both from SQL;
    withheld when either side describes fewer than `min_group_size` users."""
    metric = plan.metrics[0]
    part_q = compile_plan(plan.with_condition(), scores, min_group_size=min_group_size)
    whole_q = compile_plan(plan.model_copy(update={"share_condition": None}), scores,
                           min_group_size=min_group_size)
    part, whole = _run(con, part_q), _run(con, whole_q)
    common: dict[str, Any] = dict(plan=plan, sql=[part_q.sql, whole_q.sql],
                                  params=[part_q.params, whole_q.params],
                                  min_group_size=min_group_size)
    if any(_small(f[USERS_COLUMN].iloc[0], min_group_size) for f in (part, whole)):
        return AnalyticsResult(columns=[], rows=[], answerable=False,
                               reason=withheld_reason(min_group_size), **common)
    numerator, denominator = _clean(part[metric].iloc[0]), _clean(whole[metric].iloc[0])
    if not denominator:
        return AnalyticsResult(columns=[], rows=[], answerable=False,
                               reason="no rows match these filters", **common)
    row = {metric: numerator or 0, f"{metric}_of_all": denominator,
           SHARE_COLUMN: float(numerator or 0) / float(denominator)}
    return AnalyticsResult(columns=list(row), rows=[row], **common)


def _merge_periods(plan: QueryPlan, current: pd.DataFrame, before: pd.DataFrame,
                   min_group_size: int) -> tuple[pd.DataFrame, int]:
    """Both periods side by side with the change; groups small in either period removed."""
    keys = list(plan.group_by)
    first = plan.metrics[0]
    if keys:
        merged = current.merge(before, on=keys, how="outer", suffixes=("", "_previous"))
    else:
        merged = pd.concat([current, before.add_suffix("_previous")], axis=1)
    hidden = 0
    if keys:
        small = merged[USERS_COLUMN].map(lambda u: _small(u, min_group_size)) | merged[
            f"{USERS_COLUMN}_previous"].map(lambda u: _small(u, min_group_size))
        hidden = int(small.sum())
        merged = merged[~small].copy()
    for metric in plan.metrics:
        if METRICS[metric].unit in ("count", "money"):  # absent in a period = none there
            for column in (metric, f"{metric}_previous"):
                merged[column] = merged[column].astype("float64").fillna(0.0)
        merged[f"{metric}_change"] = merged[metric] - merged[f"{metric}_previous"]
    merged["change"] = merged[f"{first}_change"]
    order = "change" if plan.order_by == "change" else (plan.order_by or first)
    merged = merged.sort_values(order, ascending=not plan.descending, na_position="last")
    return merged.head(plan.limit).reset_index(drop=True), hidden


def chart_spec(plan: QueryPlan, columns: list[str]) -> dict[str, Any] | None:
    """A small Vega-Lite-like spec the UI can draw: bar for categories, line for time."""
    if not plan.group_by:
        return None
    x = plan.group_by[0]
    y = "change" if plan.order_by == "change" else plan.metrics[0]
    temporal = x in TIME_DIMENSIONS
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


__all__ = ["AnalyticsResult", "PlanError", "hidden_note", "run_plan", "withheld_reason"]
