"""Follow-up questions: "and in November?", "same for huawei", "what was it in 2013?".

A follow-up keeps the previous question's plan (metric, sources, filters, grouping) and changes
only what the new words name: a period, a source, a brand or category, an item, a star range,
or a metric. Code does this, not the LLM: the previous plan was already validated, and the
new words are read by the same resolver as any question.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.analytics.plan import QueryPlan
from assistant.tools.periods import find_dates
from assistant.tools.profile import DataProfile
from assistant.tools.resolve import Hints

OPENERS = (r"^\s*(and|&|but|also|plus|what about|how about|same( thing)? (for|but|in)|now|"
           r"only|just|then|ok(ay)?,?)\b")
REFERENCES = r"\b(it|its|that|those|these|them|the same|same)\b"
MAX_FOLLOW_UP_WORDS = 8


def opens_like_follow_up(message: str) -> bool:
    """Whether a chat message reads as a follow-up before anything is resolved ("and …",
    "what about …", or a short message that refers back)."""
    text = message.lower().strip()
    return bool(re.search(OPENERS, text)) or (
        len(text.split()) <= MAX_FOLLOW_UP_WORDS and bool(re.search(REFERENCES, text)))


def is_follow_up(question: str, hints: Hints) -> bool:
    """Whether `question` leans on the previous one: it opens like a follow-up, or it is short,
    refers back ("it", "those") or names no metric at all."""
    text = question.lower().strip()
    short = len(text.split()) <= MAX_FOLLOW_UP_WORDS
    if re.search(OPENERS, text):
        return True
    return short and (hints.metric is None or bool(re.search(REFERENCES, text)))


def rescope_dates(question: str, hints: Hints, previous: dict[str, Any],
                  profile: DataProfile) -> None:
    """Re-read the follow-up's dates against the previous plan's sources when it names none
    ("and on dec 1?" means December 1st of *that* data's year)."""
    scope = hints.sources or list((previous.get("filters") or {}).get("source") or [])
    hints.anchor = profile.anchor(scope)
    hints.date_from, hints.date_to, hints.date_phrase = find_dates(question, hints.anchor,
                                                                   bare=True)


def follow_up_plan(previous: dict[str, Any], hints: Hints) -> QueryPlan:
    """The previous plan with what the follow-up names put in place of the same kind of
    filter; anything it does not name is kept."""
    plan = QueryPlan.model_validate(previous).model_dump()
    filters = plan["filters"]
    if hints.sources:
        filters["source"] = list(hints.sources)
    if hints.date_from is not None:
        filters["date_from"], filters["date_to"] = hints.date_from, hints.date_to
    for key, found in (("brand", hints.brands), ("category", hints.categories),
                       ("item_id", hints.item_ids)):
        if found:
            filters[key] = list(found)
    if (hints.min_rating, hints.max_rating) != (None, None):
        filters["min_rating"], filters["max_rating"] = hints.min_rating, hints.max_rating
    population = hints.population
    if population.metric is not None and population.users and population.share is None:
        plan.update(metrics=[population.metric], order_by=None)  # "how many of them bought
        filters["users"] = filters["users"] + population.users  # more than once?"
        if population.event_type is not None and population.metric == "users":
            filters["event_type"] = [population.event_type]
    elif hints.metric is not None and hints.metric != plan["metrics"][0]:
        plan["metrics"] = [hints.metric]
        if plan.get("order_by") not in (None, "change"):
            plan["order_by"] = hints.metric
    plan["compare_previous_period"] = bool(plan["compare_previous_period"] and hints.compare)
    return QueryPlan.model_validate(plan)
