"""Whether the sources a plan reads can answer it at all, before its SQL runs.

A count over data a source does not have is not 0: "how many 5-star reviews on taobao" has no
answer, because taobao has no reviews; "how many favourites on rees46" has none either, because
rees46 logs no favourite events. These checks turn such plans into a refusal that names what is
missing and which sources have it, instead of a confident zero. Likewise a question that sets
two things against each other gets no single figure when code could not read both sides, and a
period in which nothing at all was logged ("orders on singles day" two weeks before the log
starts) is no real zero either.
"""

from __future__ import annotations

import re

import duckdb

from assistant.analytics.catalog import METRICS
from assistant.analytics.plan import QueryPlan
from assistant.tools.profile import DataProfile
from assistant.tools.render import LABELS


def _scope(plan: QueryPlan, profile: DataProfile) -> list[str]:
    """The sources a plan reads: those it names, or every source of the workspace."""
    return [s for s in (plan.filters.source or list(profile.sources)) if s in profile.sources]


def missing_data(plan: QueryPlan, profile: DataProfile) -> str | None:
    """Why the sources in scope cannot give this metric (they lack its event types, or its
    reviews), else None."""
    metric = METRICS[plan.metrics[0]]
    scope = _scope(plan, profile)
    label = LABELS.get(plan.metrics[0], plan.metrics[0])
    where = ", ".join(plan.filters.source or profile.sources)
    if metric.relation == "reviews" and not any(profile.sources[s].reviews for s in scope):
        having = [s.name for s in profile.sources.values() if s.reviews]
        return (f"{where} has no reviews, so no {label}"
                + (f"; sources that have them: {', '.join(having)}" if having else ""))
    needed = set(metric.population)  # the event types the metric counts
    if needed and not any(needed <= set(profile.sources[s].event_types) for s in scope):
        having = [s.name for s in profile.sources.values() if needed <= set(s.event_types)]
        return (f"{where} has no {'/'.join(sorted(needed))} events, so no {label}"
                + (f"; sources that have them: {', '.join(having)}" if having else ""))
    return _unlogged_filter(plan, profile, scope, where)


def _unlogged_filter(plan: QueryPlan, profile: DataProfile, scope: list[str],
                     where: str) -> str | None:
    """Why a filter on an event type no source in scope logs has no answer ("users who
    favourited on rees46" is not 0 users: rees46 never records favourites), else None."""
    asked = [set(plan.filters.event_type)] + [{c.event_type} for c in plan.filters.users
                                              if c.event_type is not None]
    logged = set().union(*(profile.sources[s].event_types for s in scope)) if scope else set()
    for types in asked:
        if types and not types & logged:
            having = [s.name for s in profile.sources.values() if types & set(s.event_types)]
            return (f"{where} has no {'/'.join(sorted(types))} events"
                    + (f"; sources that have them: {', '.join(having)}" if having else ""))
    return None


def period_without_data(con: duckdb.DuckDBPyConnection, plan: QueryPlan,
                        profile: DataProfile) -> str | None:
    """Why a period in which the sources in scope recorded nothing at all has no answer
    ("orders on singles day" when the log starts two weeks later is not 0), else None."""
    first, last = plan.filters.date_from, plan.filters.date_to
    if first is None and last is None:
        return None
    scope = _scope(plan, profile)
    timed = [s for s in scope if profile.sources[s].last_date is not None]
    if not timed:
        return None
    found = con.execute(
        "SELECT count(*) FROM (SELECT 1 FROM events WHERE list_contains(?, source) "
        "AND (? IS NULL OR CAST(ts AS DATE) >= ?) AND (? IS NULL OR CAST(ts AS DATE) <= ?) "
        "LIMIT 1)", [timed, first, first, last, last]).fetchone()
    if found and found[0]:
        return None
    spans = "; ".join(f"{s} {profile.sources[s].first_date} to {profile.sources[s].last_date}"
                      for s in timed)
    asked = f"{first or '…'} to {last or '…'}" if first != last else str(first)
    return (f"nothing at all was recorded in {', '.join(timed)} for {asked} (the data runs: "
            f"{spans}), so any figure would be an empty period, not a real zero")


TWO_SIDED = re.compile(r"\b(vs\.?|versus|compared? (to|with)|against)\b|\b(more|less|fewer|"
                       r"higher|lower|bigger|smaller|better|worse)\b.*\bor\b")
"""A question that sets two things against each other ("first hour or last hour?")."""


def unread_comparison(question: str, plan: QueryPlan) -> str | None:
    """Why a plan with one figure cannot answer a question comparing two things (the sides
    were not read: "revenue in the first hour or the last hour?"), else None."""
    compares = (plan.compare_previous_period or plan.group_by or len(plan.metrics) > 1
                or plan.share_condition is not None)
    if compares or not TWO_SIDED.search(question.lower()):
        return None
    return ("the question compares two things and I could not read both sides as periods, "
            "groups or metrics of this data; ask for each side separately")


def why_unanswerable(con: duckdb.DuckDBPyConnection, question: str, plan: QueryPlan,
                     profile: DataProfile) -> str | None:
    """The first reason of this module why the plan cannot answer the question (data the
    sources lack, an unread comparison, a period with no data at all), else None."""
    return (missing_data(plan, profile) or unread_comparison(question, plan)
            or period_without_data(con, plan, profile))
