"""Whether the sources a plan reads can give its metric at all, before any SQL runs.

A count over data a source does not have is not 0: "how many 5-star reviews on taobao" has no
answer, because taobao has no reviews; "how many favourites on rees46" has none either, because
rees46 logs no favourite events. These checks turn such plans into a refusal that names what is
missing and which sources have it, instead of a confident zero. Likewise a question that sets
two things against each other gets no single figure when code could not read both sides.
"""

from __future__ import annotations

import re

from assistant.analytics.catalog import METRICS
from assistant.analytics.plan import QueryPlan
from assistant.tools.profile import DataProfile
from assistant.tools.render import LABELS


def missing_data(plan: QueryPlan, profile: DataProfile) -> str | None:
    """Why the sources in scope cannot give this metric (they lack its event types, or its
    reviews), else None."""
    metric = METRICS[plan.metrics[0]]
    scope = [s for s in (plan.filters.source or list(profile.sources)) if s in profile.sources]
    label = LABELS.get(plan.metrics[0], plan.metrics[0])
    where = ", ".join(plan.filters.source or profile.sources)
    if metric.relation == "reviews" and not any(profile.sources[s].reviews for s in scope):
        having = [s.name for s in profile.sources.values() if s.reviews]
        return (f"{where} has no reviews, so no {label}"
                + (f"; sources that have them: {', '.join(having)}" if having else ""))
    needed = set(metric.population)  # the event types the metric counts
    if not needed or any(needed <= set(profile.sources[s].event_types) for s in scope):
        return None
    having = [s.name for s in profile.sources.values() if needed <= set(s.event_types)]
    return (f"{where} has no {'/'.join(sorted(needed))} events, so no {label}"
            + (f"; sources that have them: {', '.join(having)}" if having else ""))


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
