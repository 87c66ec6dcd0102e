"""Who a question counts: users who did (or never did) something, shares of a group, medians.

Operators ask about people defined by what they did: "users who carted but never bought",
"people who bought 3 or more times", "what share of buyers also used the cart", "what % of
2014 reviews were 5 stars", "median events per user". Code reads these constructions off the
question (the resolver's other hints stay as they are) and turns them into plan parts:
`Filters.users` conditions, a `share_condition`, or a per-user metric. Each reading is one of
a few fixed sentence shapes; anything else is left to the LLM's draft and the plain metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

EVENT_PATTERNS: list[tuple[str, str]] = [
    ("cart", r"\b(cart\w*|basket\w*|add(ed|s|ing)? (\w+ )?to (the |their )?cart)\b"),
    ("purchase", r"\b(purchas\w*|bought|buy|buys|buying|buyers?|orders?|ordered|paid|paying|"
                 r"sales?|sold)\b"),
    ("view", r"\b(view\w*|pvs?|look\w*|brows\w*|visited)\b"),
    ("fav", r"\b(add\w* (\w+ )?to (the |their )?(fav\w*|wishlist)|fav\w*|wishlist\w*)\b"),
    ("review", r"\b(review\w*|rated|wrote|left)\b"),
]
"""Words for each event type, in the order they are tried."""

NEVER = (r"(\bnever\b|\bwithout\b|\bw/o\b|\bzero\b|\bnot\b|\b(did|do|does|have|has)n'?t\b|"
         r"\bno\b(?!\.? of\b)(?! \d))")
SHARE_CUE = r"(\b(share|fraction|percent\w*|proportion|pct)\b|%)"
PEOPLE = (r"\b(users?|customers?|people|ppl|shoppers?|visitors?|buyers?|purchasers?|reviewers?|"
          r"carters?|lookers?|viewers?|those|them)\b")
WORD_NUMBERS = {"once": 1, "one": 1, "twice": 2, "two": 2, "three": 3, "thrice": 3, "four": 4,
                "five": 5, "six": 6, "ten": 10}
_N = r"(\d{1,4}|once|twice|thrice|one|two|three|four|five|six|ten)"
MIN_COUNT = [
    rf"\bat least {_N}\b", rf"\b{_N}\s*\+", rf"\b{_N} or more\b", rf"\b{_N} times or more\b",
    rf"\bmore than {_N}\b", r"\b(twice|thrice)\b", r"\b(repeat|returning|came back)\b",
]
"""Ways to say "N or more times"; "more than N" means N + 1, "repeat"/"came back" means 2."""
EXACT_COUNT = [rf"\bexactly {_N}\b", rf"\bonly {_N}\b(?![ -]?(stars?|\*))", r"\bjust once\b",
               r"\bone.time\b", r"\bonly once\b"]
"""Ways to say "exactly N times" ("one-time buyers", "made only 1 purchase")."""
SESSIONS = r"\bsessions?\b|\bvisits?\b|\bcame back\b"
MEDIAN = r"\b(median|typical\w*)\b"
FIRST = r"\b(first|earliest|oldest|start\w*|begin\w*)\b"
LAST = r"\b(last|latest|newest|most recent|recent|end\w*)\b"
WHEN = r"\b(when|date|day)\b|\bwhen's\b"
POPULATION_METRIC = {"purchase": "buyers", "cart": "cart_users", "review": "reviewers"}
"""The metric counting the users with an event type (others: `users` with that event type)."""


@dataclass
class Population:
    """What code read about who is counted; empty when the question has none of it."""

    metric: str | None = None
    event_type: str | None = None  # the counted users' event type, with metric `users`
    users: list[dict[str, Any]] = field(default_factory=list)
    share: dict[str, Any] | None = None
    move_to_share: list[str] = field(default_factory=list)  # filters that become the condition

    def for_prompt(self) -> list[tuple[str, Any]]:
        """The plan draft's fields this reading fills, as hints for the LLM."""
        never = [c["event_type"] for c in self.users if c.get("never")]
        times = [c for c in self.users if not c.get("never") and not c.get("sessions")]
        return [("never_did", never[0] if never else None),
                ("min_times", times[0]["min_count"] if times else None),
                ("times_of", times[0].get("event_type") if times else None)]

    def found(self) -> bool:
        """Whether anything was read."""
        return self.metric is not None or bool(self.users) or self.share is not None


def _events_in_order(text: str) -> list[tuple[int, int, str]]:
    """(start, end, event type) of every event word, in text order."""
    spans: list[tuple[int, int, str]] = []
    for kind, pattern in EVENT_PATTERNS:
        for m in re.finditer(pattern, text):
            if not any(s < m.end() and m.start() < e for s, e, _ in spans):
                spans.append((m.start(), m.end(), kind))
    return sorted(spans)


def event_kinds(text: str) -> list[str]:
    """The event types the text names, in order, once each."""
    return list(dict.fromkeys(kind for _, _, kind in _events_in_order(text)))


def _count_of(match: re.Match[str]) -> int:
    token = next(g for g in match.groups() if g)
    value = WORD_NUMBERS.get(token)
    number = value if value is not None else int(token) if token.isdigit() else 2
    if match.group(0).startswith("more than"):
        number += 1
    return number


def _exact_count(text: str) -> tuple[int, int] | None:
    """(N, position) for "exactly N times" phrasings, else None."""
    for pattern in EXACT_COUNT:
        m = re.search(pattern, text)
        if m:
            token = next((g for g in m.groups() if g), "once")
            value = WORD_NUMBERS.get(token)
            return (value if value is not None else int(token) if token.isdigit() else 1,
                    m.start())
    return None


def _min_count(text: str) -> tuple[int, int] | None:
    """(N, position) for "N or more times" phrasings, else None."""
    for pattern in MIN_COUNT:
        m = re.search(pattern, text)
        if m:
            return _count_of(m), m.start()
    return None


def users_of(kind: str | None) -> tuple[str, str | None]:
    """(metric, event-type filter) counting the users who did `kind` (None: any users)."""
    metric = POPULATION_METRIC.get(kind or "", "users")
    return metric, (kind if metric == "users" else None)


PEOPLE_DID = (rf"(?:(?:^\W*|\b(?:how many|number of|count of)\s+(?:\w+\s+){{0,2}}|#\s*(?:of\s+)?"
              rf"(?:\w+\s+){{0,2}}){PEOPLE}\s+(?:(?:who|that)\s+)?|{PEOPLE}\s+(?:who|that)\s+|"
              r"\bhow many\s+)(?:(?:have|has|had|did|made|make|with|w/)\s+)?(?:an?\s+|any\s+)?")
"""People counted, then what they did: "how many users favorited", "ppl who carted", "# users
made a purchase", "number of users w/ a fav", "ppl w/ a fav", "how many bought". Not "which
category do people buy most" (a ranking of purchases) nor "how many times did people …"
(events)."""
VERB_FORM = r"(ed|bought|sold)$|^add"
"""After a bare "how many", only a verb counts people ("how many carted"; not "how many
carts", "how many purchased items")."""


def _people_who_did(text: str, events: list[tuple[int, int, str]]) -> str | None:
    """The event kind of people counted by what they did ("how many users favorited
    something" → fav), else None."""
    if re.search(r"\bhow many times\b", text):
        return None
    starts = {start: (end, kind) for start, end, kind in events}
    for m in re.finditer(PEOPLE_DID, text):
        if m.end() not in starts:
            continue
        end, kind = starts[m.end()]
        word = text[m.end():end]
        bare = not re.search(PEOPLE, m.group(0))
        if bare and (not re.search(VERB_FORM, word.split()[0]) or re.match(
                r"\s+(items?|products?|things?|asins?|events?)\b", text[end:])):
            continue
        return kind
    return None


def _dates(text: str, relation_words: str) -> str | None:
    if not (re.search(WHEN, text) or re.search(r"\b(earliest|latest|start|begin)", text)):
        return None
    if re.search(r"\b(how many|number of|count of)\b|#", text):
        return None  # "how many buys in the week starting nov 27" counts, it asks no date
    if not re.search(relation_words, text):
        return None
    if re.search(FIRST, text):
        return "first"
    if re.search(LAST, text):
        return "last"
    return None


def read_population(text: str, has_condition_filter: bool, has_rating: bool) -> Population:
    """What `text` (the normalised question) says about who is counted; see the module
    docstring. `has_condition_filter`: a brand / category was named; `has_rating`: a star range
    was named (both can be the condition of a share)."""
    found = Population()
    edge = _dates(text, r"\breviews?\b")
    if edge:
        found.metric = f"{edge}_review_date"
        return found
    edge = _dates(text, r"\b(events?|activity|data|log)\b")
    if edge:
        found.metric = f"{edge}_event_date"
        return found
    events = _events_in_order(text)
    kinds = list(dict.fromkeys(kind for _, _, kind in events))
    mean = re.search(r"\b(avg|average|mean)\b", text) and not re.search(r"\bmedian\b", text)
    if re.search(MEDIAN, text) and not mean and re.search(r"\b(per|each|a|every)\b|/", text):
        found.metric = ("median_reviews_per_user" if kinds == ["review"]
                        else "median_events_per_user")
        if kinds and kinds[0] not in ("review",):
            found.event_type = kinds[0]
        return found
    never = re.search(NEVER, text)
    negated = [k for s, _, k in events if never and s > never.start()] if never else []
    exact = _exact_count(text)
    counted = exact or _min_count(text)
    sessions = bool(re.search(SESSIONS, text)) and counted is not None
    conditions: list[dict[str, Any]] = []
    if negated:
        conditions.append({"event_type": negated[0], "never": True})
    if sessions and counted:
        conditions.append({"sessions": True, "min_count": max(counted[0], 2)})
    elif counted:
        near = [k for s, _, k in events if abs(s - counted[1]) < 40]
        kind = near[0] if near else (kinds[0] if kinds else None)
        if kind is not None:
            conditions.append({"event_type": kind, "min_count": counted[0],
                               **({"max_count": counted[0]} if exact else {})})
    positive = [k for k in kinds if k not in negated]
    if re.search(SHARE_CUE, text) and re.search(PEOPLE + r"|\breviews?\b", text):
        return _share(found, positive, conditions, has_condition_filter, has_rating, text)
    if not conditions:
        did = _people_who_did(text, events)
        if did is not None:  # "how many users favorited something", "how many carted"
            found.metric, found.event_type = users_of(did)
        return found
    if not re.search(PEOPLE + r"|\bhow many\b|#", text):
        return found
    base = positive[0] if positive else (conditions[0].get("event_type") if not negated
                                         else None)
    found.metric, found.event_type = users_of(base)
    found.users = conditions
    return found


def _share(found: Population, positive: list[str], conditions: list[dict[str, Any]],
           has_condition_filter: bool, has_rating: bool, text: str) -> Population:
    """A share question: the group (its first event kind) and the condition it is asked of."""
    if has_rating and re.search(r"\breviews?\b", text):
        found.metric, found.share = "review_count", {}
        found.move_to_share = ["min_rating", "max_rating"]
        return found
    if not re.search(PEOPLE, text):
        return found
    if conditions:
        base = positive[0] if positive else None
        found.share = {"users": conditions}
    elif len(positive) >= 2:
        base, found.share = positive[0], {"users": [{"event_type": positive[1]}]}
    elif len(positive) == 1 and has_condition_filter:
        base, found.share = positive[0], {}
        found.move_to_share = ["brand", "category", "item_id"]
    elif len(positive) == 1:
        base, found.share = None, {"users": [{"event_type": positive[0]}]}
    else:
        return found
    found.metric, found.event_type = users_of(base)
    return found


def drafted_population(values: dict[str, Any]) -> Population:
    """The user conditions of the LLM's draft (`never_did`, `min_times` of `times_of`), used
    only when code read none from the question."""
    found = Population()
    if values.get("never_did"):
        found.users.append({"event_type": values["never_did"], "never": True})
    if (values.get("min_times") or 0) >= 2:
        found.users.append({"event_type": values.get("times_of"),
                            "min_count": int(values["min_times"])})
    return found


def apply_population(plan: dict[str, Any], population: Population) -> None:
    """Put what `read_population` found into a plan draft (a `QueryPlan` dict): the user
    conditions into its filters, or the share condition with the filters it takes over."""
    filters = plan["filters"]
    if population.metric is not None and population.metric.endswith("_date"):
        plan.update(group_by=[], order_by=None)  # "the latest review date" is one date
    if population.event_type is not None and plan["metrics"][0] in (
            "users", "median_events_per_user"):
        filters["event_type"] = [population.event_type]
    if population.users and population.share is None:
        filters["users"] = list(population.users)
    if population.share is None:
        return
    condition = dict(population.share)
    for key in population.move_to_share:
        value = filters.get(key)
        if value not in (None, []):
            condition[key] = value
            filters[key] = None if key in ("min_rating", "max_rating") else []
    if not condition:
        return
    plan.update(share_condition=condition, group_by=[], metrics=plan["metrics"][:1],
                compare_previous_period=False, order_by=None)
