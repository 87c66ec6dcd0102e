"""Stated readings: the sentence that says how a vague word of the question was taken.

Operators write "orders", "sales", "money made", "people" or "activity"; the plan turns each
into one precise measure. When a question uses such a word and the plan measures it in one
particular way, the answer says so after its figure ("I read 'orders' as purchase events"), so
a reader who meant something else sees it at once instead of trusting a figure for another
question. Only words with more than one sensible meaning get a reading; a question that names
the measure itself ("how many purchase events") gets none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reading:
    """A vague word (regex), the metrics that measure it one particular way, and the words."""

    pattern: str
    metrics: frozenset[str]
    meaning: str


def _r(pattern: str, metrics: str, meaning: str) -> Reading:
    return Reading(pattern, frozenset(metrics.split()), meaning)


READINGS: tuple[Reading, ...] = (
    _r(r"\borders?\b", "purchases", "purchase events (one per item bought)"),
    _r(r"\b(sales|sold|sells?)\b", "purchases", "purchase events (one per item bought)"),
    _r(r"\b(sales|money (made|earned)|made|earn\w*|takings)\b", "revenue",
       "revenue: the sum of the prices of purchase events"),
    _r(r"\borders?\b", "average_order_value",
       "single purchase events (the data has no order ids), so order value is purchase price"),
    _r(r"\b(people|ppl|folks|shoppers?|customers?|visitors?)\b", "users",
       "distinct users with any event"),
    _r(r"\b(people|ppl|folks|shoppers?|customers?)\b", "buyers",
       "distinct users with at least one purchase"),
    _r(r"\b(activity|active|busy|busiest|traffic)\b", "events",
       "events of every type (views, carts, favourites and purchases)"),
    _r(r"\bpopular\w*\b", "events", "the most events of every type"),
    _r(r"\bpopular\w*\b", "purchases", "the most purchase events"),
    _r(r"\bconver\w*\b", "view_to_purchase_rate", "purchase events divided by view events"),
    _r(r"\b(engag\w*|interact\w*)\b", "events events_per_user",
       "events of every type (views, carts, favourites and purchases)"),
)
"""Vague word → (metric it was measured by → meaning); the first match per metric wins."""


def _quoted(match: re.Match[str]) -> str:
    return match.group(0).lower()


def stated_readings(question: str, plan: dict[str, Any] | None) -> list[str]:
    """The readings to state for `question` answered by `plan`, e.g. ["I read 'orders' as
    purchase events (one per item bought)."]; empty when nothing vague was interpreted."""
    if not plan:
        return []
    metrics = list(plan.get("metrics") or [])
    filters = plan.get("filters") or {}
    if filters.get("event_type") or filters.get("users"):  # the scope sentence names who
        metrics = [m for m in metrics if m not in ("users", "events")]
    out: list[str] = []
    for metric in metrics:
        for reading in READINGS:
            match = (re.search(reading.pattern, question, re.IGNORECASE)
                     if metric in reading.metrics else None)
            if match is not None:
                out.append(f"I read '{_quoted(match)}' as {reading.meaning}.")
                break
    return out
