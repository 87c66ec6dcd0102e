"""Follow-up questions: "and in November?", "same for huawei", "what was it in 2013?".

A follow-up keeps the previous question's plan (metric, sources, filters, grouping) and changes
only what the new words name:
* a period, also one named relative to the previous ("the day before", "the year after");
* a source, a brand or category, an item, a star range; or every source ("across all sources");
* the grouping ("and which item?"), a breakdown of a total ("by day?"), the other end of a
  ranking ("and the fewest?");
* the metric: "and how many carted?" counts people when the previous answer did, "by how many
  people?" counts who did the previous answer's events, "per user?" gives them as a mean;
* the people: "how many of them never bought?", "what % of them bought?", or a share of the
  whole ("what share of all reviews is that?");
* a comparison: a new period set against the previous one ("was dec 2 higher?"), or the
  previous period against the current ("compared with the day before?").
Code does this, not the LLM: the previous plan was already validated, and the new words are
read by the same resolver as any question. A question of its own that names no source stays
with the previous answer's sources when they can answer it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from assistant.analytics.catalog import METRICS
from assistant.analytics.compiler import TIME_DIMENSIONS
from assistant.analytics.plan import QueryPlan
from assistant.tools.coverage import missing_data
from assistant.tools.periods import find_dates, names_period
from assistant.tools.population import SHARE_CUE, Population, apply_population, users_of
from assistant.tools.profile import DataProfile
from assistant.tools.resolve import COMPARE, Hints

OPENERS = (r"^\s*(and|&|but|also|plus|what about|how about|same( thing)? (for|but|in)|now|"
           r"only|just|then|ok(ay)?,?)\b|^\s*as (a |an )?(%|share\b|percent\w*|fraction\b|"
           r"proportion\b)")
REFERENCES = r"\b(it|its|that|those|these|them|the same|same|(which|that|this) one)\b"
LEADS_BACK = (r"^\s*((was|is|are|were|did|does|do|has|have|how (is|was|about))\s+)?"
              r"(that|it|those|these|they|this)\b")
"""A message that starts from the previous answer ("was that more than …?", "is it up?"),
whatever its length."""
MAX_FOLLOW_UP_WORDS = 8
MAX_FRAGMENT_WORDS = 4
"""A message this short that names no source ("most bought?", "unique buyers?") is a fragment
of the conversation, never a question of its own."""


RELATIVE = re.compile(r"\b(?:(?:the\s+)?(day|week|month|year)\s+(before|after|prior|earlier|"
                      r"later)|(previous|prior|preceding|next|following)\s+(day|week|month|"
                      r"year))\b")
"""A period named relative to the previous answer's: "the day before", "the year after",
"previous week", "next month"."""
_BACK = {"before", "prior", "earlier", "previous", "preceding"}


def opens_like_follow_up(message: str) -> bool:
    """Whether a chat message reads as a follow-up before anything is resolved ("and …",
    "what about …", a short message that refers back, or a fragment naming a period or a
    number: "2014?", "day before?", "top 3?")."""
    text = message.lower().strip()
    words = len(text.split())
    fragment = words <= MAX_FRAGMENT_WORDS and bool(
        re.search(r"\d", text) or names_period(text) or RELATIVE.search(text))
    return bool(re.search(OPENERS, text)) or fragment or (
        words <= MAX_FOLLOW_UP_WORDS and bool(re.search(REFERENCES, text)))


def is_follow_up(question: str, hints: Hints) -> bool:
    """Whether `question` leans on the previous one: it opens like a follow-up, it is a
    fragment naming no source, or it is short and refers back ("it", "those", "which one") or
    names no metric at all."""
    text = question.lower().strip()
    words = len(text.split())
    if (re.search(OPENERS, text) or re.search(LEADS_BACK, text)
            or (words <= MAX_FRAGMENT_WORDS and not hints.sources)
            or (RELATIVE.search(text) and hints.date_from is None)):  # "… the day after?"
        return True
    return words <= MAX_FOLLOW_UP_WORDS and (hints.metric is None
                                             or bool(re.search(REFERENCES, text)))


def _shift_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, 1)


def shifted_period(question: str, date_from: dt.date, date_to: dt.date
                   ) -> tuple[dt.date, dt.date] | None:
    """The previous period moved by the unit a relative phrase names ("and the day before?"
    after December 2 is December 1; "the year after" 2013 is 2014), else None. A month or
    year moves to the whole calendar month or year."""
    m = RELATIVE.search(question.lower())
    if m is None:
        return None
    unit = m.group(1) or m.group(4)
    step = -1 if (m.group(2) or m.group(3)) in _BACK else 1
    if unit == "year":
        year = date_from.year + step
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if unit == "month":
        start = _shift_months(date_from, step)
        return start, _shift_months(start, 1) - dt.timedelta(days=1)
    days = 1 if unit == "day" else 7
    return (date_from + dt.timedelta(days=step * days),
            date_to + dt.timedelta(days=step * days))


def pin_peak(previous: dict[str, Any], question: str,
             rows_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> dict[str, Any]:
    """ "how many views the day after?" after "which day had the most views?": the previous
    ranking of periods becomes its top period (a plan of one figure) so that a relative phrase
    can move it; any other previous plan is returned as it is. `rows_of` runs a plan."""
    group = list(previous.get("group_by") or [])
    filters = previous.get("filters") or {}
    if (len(group) != 1 or group[0] not in TIME_DIMENSIONS or filters.get("date_from")
            or not RELATIVE.search(question.lower())):
        return previous
    metric = previous["metrics"][0]
    rows = [r for r in rows_of(previous) if r.get(metric) is not None]
    if not rows:
        return previous
    pick = max if previous.get("descending", True) else min
    start = dt.date.fromisoformat(str(pick(rows, key=lambda r: r[metric])[group[0]])[:10])
    end = {"day": start, "week": start + dt.timedelta(days=6),
           "month": _shift_months(start, 1) - dt.timedelta(days=1),
           "year": dt.date(start.year, 12, 31)}[group[0]]
    return {**previous, "group_by": [], "order_by": None, "compare_previous_period": False,
            "filters": {**filters, "date_from": start.isoformat(), "date_to": end.isoformat()}}


def rescope_dates(question: str, hints: Hints, previous: dict[str, Any],
                  profile: DataProfile) -> None:
    """Re-read the follow-up's dates against the previous plan's sources when it names none
    ("and on dec 1?" means December 1st of *that* data's year), and move the previous period
    when the follow-up names one relative to it ("and the day before?")."""
    filters = previous.get("filters") or {}
    scope = hints.sources or list(filters.get("source") or [])
    hints.anchor = profile.anchor(scope)
    hints.date_from, hints.date_to, hints.date_phrase = find_dates(question, hints.anchor,
                                                                   bare=True)
    if hints.date_from is None and filters.get("date_from") and filters.get("date_to"):
        moved = shifted_period(question, dt.date.fromisoformat(str(filters["date_from"])),
                               dt.date.fromisoformat(str(filters["date_to"])))
        if moved is not None:
            hints.date_from, hints.date_to = moved
            hints.date_phrase = RELATIVE.search(question.lower()).group(0)  # type: ignore[union-attr]


USER_COUNTS = {"users": None, "buyers": "purchase", "cart_users": "cart",
               "reviewers": "review"}
"""Metrics that count people (→ the event kind they did, None: any)."""
EVENT_COUNTS = {"views": "view", "carts": "cart", "favs": "fav", "purchases": "purchase",
                "revenue": "purchase", "reviews_written": "review", "review_count": "review"}
"""Metrics that count events (→ their kind): "by how many people?" counts who did them."""
SHARE_OF_ALL = re.compile(SHARE_CUE + r".*\b(all|total|overall|that|this|it|everything)\b")
"""A share of the previous answer's whole: "what share of all reviews is that?"."""
ALL_SOURCES = re.compile(r"\b(all|every|across|whole|combined|total over)\b.{0,20}\b(sources?|"
                         r"datasets?|data|stores?|shops?)\b|\b(sources?|datasets?) combined\b")
"""The follow-up widens the previous answer to every source ("and across all sources?")."""
PER_UNIT = re.compile(r"\bper (user|person|customer|shopper|session)\b|\b(a|each|every) "
                      r"(user|session)\b")
"""The previous count as a mean per user or session ("how many is that per user?")."""
BREAKDOWN = r"\b(by|per|each|every|break\w* (it |that |this )?down|split)\b"
"""A total broken down into groups ("by day?", "break it down by category")."""
RANKS = r"\b(which|top|most|best|highest|biggest|leading|lowest|least|fewest|worst)\b"
"""A total's leader asked for ("which brand sold the most of them?", "top brand?")."""
COMPARED = re.compile(r"\b(higher|lower|more|fewer|less|bigger|smaller|compared?|vs\.?|"
                      r"versus|than|up|down|differ\w*)\b")
"""Words that set the follow-up's period against the previous one ("was dec 2 higher?")."""


def previous_kind(plan: dict[str, Any]) -> str | None:
    """The event kind the previous answer counted (its users or its events), else None."""
    metric = plan["metrics"][0]
    kinds = plan["filters"].get("event_type") or []
    if metric in USER_COUNTS:
        return USER_COUNTS[metric] or (kinds[0] if len(kinds) == 1 else None)
    return EVENT_COUNTS.get(metric)


def _regroup(plan: dict[str, Any], hints: Hints, question: str) -> None:
    """Groupings a follow-up changes: another dimension ("and which item?" after "which
    category?"), a breakdown of a total ("by day?", "break it down by brand"), or the other
    end of a ranking ("and the fewest?")."""
    group = hints.group_by
    if group and plan["group_by"] and group not in plan["group_by"]:
        plan["group_by"] = [group]
    elif group and not plan["group_by"] and re.search(BREAKDOWN, question.lower()):
        plan.update(group_by=[group], share_condition=None,
                    order_by=None if group in TIME_DIMENSIONS else plan["metrics"][0])
    elif group and not plan["group_by"] and re.search(RANKS, question.lower()):
        plan.update(group_by=[group], share_condition=None, order_by=plan["metrics"][0])
    if plan["group_by"] and (hints.ascending or hints.highest):
        plan["descending"] = not hints.ascending


def _per_unit(plan: dict[str, Any], question: str) -> str | None:
    """ "how many is that per user?": the previous event count as a mean per user or
    session, else None."""
    unit = PER_UNIT.search(question.lower())
    prefix = plan["metrics"][0]
    if unit is None or prefix not in ("views", "carts", "favs", "purchases"):
        return None
    return f"{prefix}_per_{'session' if 'session' in unit.group(0) else 'user'}"


MEDIAN_OF = {"mean_price": "median_price", "events_per_user": "median_events_per_user"}
"""A mean and its median: "and the median?" after an average asks for the other one."""


def _other_average(plan: dict[str, Any], question: str) -> str | None:
    """ "and the median?" after a mean (or "and the mean?" after a median): the previous
    measure's other average, else None."""
    text = question.lower()
    metric = plan["metrics"][0]
    if re.search(r"\bmedian\b", text):
        return MEDIAN_OF.get(metric)
    if re.search(r"\b(mean|average|avg)\b", text):
        return next((mean for mean, median in MEDIAN_OF.items() if median == metric), None)
    return None


def _narrow_people(plan: dict[str, Any], hints: Hints) -> bool:
    """ "how many of them bought more than once?", "what % of them bought?", "how many of
    those never bought?": the previous answer's people, narrowed or split by the follow-up's
    condition. False when the follow-up says none of this."""
    population = hints.population
    if population.share is None and not (population.metric is not None and population.users):
        return False
    kind = previous_kind(plan)
    if population.event_type is None and population.metric in ("users", None):
        population.metric, population.event_type = users_of(kind)  # "of them": those
    plan.update(metrics=[population.metric], order_by=None, group_by=[])
    if population.event_type is not None and population.metric == "users":
        plan["filters"]["event_type"] = [population.event_type]
    if population.share is None:
        plan["filters"]["users"] = plan["filters"]["users"] + population.users
    else:
        apply_population(plan, population)
    return True


def _share_of_whole(plan: dict[str, Any], question: str) -> bool:
    """ "what share of all reviews is that?": the previous answer's narrowing filters (stars,
    brand, category, item) become the share condition over everything else it kept."""
    if not SHARE_OF_ALL.search(question.lower()) or plan["group_by"]:
        return False
    narrowing = [k for k in ("min_rating", "max_rating", "brand", "category", "item_id")
                 if plan["filters"].get(k) not in (None, [])]
    if not narrowing:
        return False
    apply_population(plan, Population(share={}, move_to_share=narrowing))
    return True


def _compare_with_previous(plan: dict[str, Any], previous: dict[str, Any], hints: Hints,
                           question: str) -> None:
    """ "was dec 2 higher or lower?": the follow-up's period set against the previous one (the
    later period is "now", the earlier one the comparison)."""
    before = previous["filters"]
    if (hints.date_from is None or not before.get("date_from") or plan["group_by"]
            or not COMPARED.search(question.lower())):
        return
    old = (dt.date.fromisoformat(str(before["date_from"])),
           dt.date.fromisoformat(str(before["date_to"])))
    new = (hints.date_from, hints.date_to or hints.date_from)
    if old == new:
        return
    later, earlier = (new, old) if new[0] > old[0] else (old, new)
    plan["filters"]["date_from"], plan["filters"]["date_to"] = later
    plan.update(compare_previous_period=True, compare_from=earlier[0], compare_to=earlier[1])


def follow_up_plan(previous: dict[str, Any], hints: Hints, question: str = "") -> QueryPlan:
    """The previous plan with what the follow-up names put in place of the same kind of
    filter, metric or grouping; anything it does not name is kept."""
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
    _regroup(plan, hints, question)
    compare = bool(plan["compare_previous_period"] and hints.compare) or bool(
        hints.date_from is None and filters["date_from"] and not plan["group_by"]
        and re.search(COMPARE, question.lower()))  # "compared to the previous period?"
    plan.update(compare_previous_period=compare,
                **({} if compare else {"compare_from": None, "compare_to": None}))
    if _share_of_whole(plan, question) or _narrow_people(plan, hints):
        return QueryPlan.model_validate(plan)
    if ALL_SOURCES.search(question.lower()) and not hints.sources:
        filters["source"] = []
    per_unit = _per_unit(plan, question) or _other_average(plan, question)
    metric = per_unit or hints.population.metric or hints.metric
    if per_unit is None and hints.population.event_type is not None:  # "and how many carted?"
        filters["event_type"] = [hints.population.event_type]
    elif per_unit is None and metric == "users" and previous_kind(plan) is not None:
        # "by how many people?": the people who did the previous answer's events
        metric, kind = users_of(previous_kind(plan))
        filters["event_type"] = [kind] if kind else filters["event_type"]
    if metric is not None and metric != plan["metrics"][0]:
        plan["metrics"] = [metric]
        needed = METRICS[metric].population
        if needed and not set(filters["event_type"]) <= set(needed):
            filters["event_type"] = []  # "and carts?" after buyers: not carts among buys
        if plan.get("order_by") not in (None, "change"):
            plan["order_by"] = metric
    _compare_with_previous(plan, previous, hints, question)
    return QueryPlan.model_validate(plan)


def in_previous_sources(plan: QueryPlan, previous: dict[str, Any] | None, hints: Hints,
                        profile: DataProfile) -> QueryPlan:
    """A question of its own asked in a conversation without naming a source ("Which day had
    the most page views?" after a taobao question) is about the previous answer's sources,
    when they can answer it; otherwise the plan is left as it is."""
    sources = list(((previous or {}).get("filters") or {}).get("source") or [])
    if hints.sources or not sources or plan.filters.source:
        return plan
    scoped = plan.model_copy(update={"filters": plan.filters.model_copy(
        update={"source": sources})})
    return scoped if missing_data(scoped, profile) is None else plan
