"""Measures that need more than a keyword: means per user, per session or per item, prices,
helpful votes, sessions, shares of sessions, and distinct things among one kind of event.

"avg carts per user" is not the number of carts; "how many distinct items were bought" is not
the number of purchases; "average price of viewed products" is a mean price over view events.
`refine_measure` reads these sentence shapes off the normalised question after the resolver's
keyword pass and corrects its metric (and the event type the metric is counted over). When it
claims a question, what the population reader found is dropped: "categories with at least one
purchase" counts categories, not users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MEAN = r"\b(average|avg|mean|on avg|typical(ly)?|per)\b"
RANKED = (r"\b(which|top|most|(?<!at )least|highest|lowest|best|worst|rank\w*|each|every|list|"
          r"show)\b")
"""With these, "per" asks for a breakdown ("purchases per category, top 5"), not a mean."""
PEOPLE = r"\b(users?|customers?|people|ppl|shoppers?|visitors?|persons?|buyers?)\b"
SESSION = r"\bsessions?\b"
ITEM = r"\b(items?|products?|asins?|things?)\b"
FUNNEL: list[tuple[str, str]] = [
    ("carts", r"\b(add\w* (\w+ )?to (the |their )?cart|carts?|carted|cart adds?)\b"),
    ("favs", r"\b(favou?rites?|favs?|wishlist\w*)\b"),
    ("purchases", r"\b(purchas\w*|bought|buys?|buying|orders?|ordered|sold|sales?|paid)\b"),
    ("views", r"\b(views?|viewed|pvs?|look(s|ed|ing)? at|page views?)\b"),
]
"""Event words, as (metric prefix, pattern); the first one in the question is the kind."""
EVENT_WORDS = dict(FUNNEL)
EVENT_OF = {"carts": "cart", "favs": "fav", "purchases": "purchase", "views": "view"}
DISTINCT_THINGS = {"items": ITEM, "categories": r"\bcategor\w*", "brands": r"\bbrands?\b"}
DISTINCT = r"\b(distinct|unique|different|diff|diffrent|how many|number of)\b|#"
LOWEST_PRICE = (r"\b(cheapest|lowest (price|amount)|min(imum)? (purchase )?price|smallest "
                r"(price|purchase))\b")
PRICE = r"\bprices?\b|\b(does|do|did) .*\bcost\b"
"""A price asked for: "average price", "how much does a purchased product cost on average"."""
TOTAL_VALUE = (r"\b(total|sum)\b.*\b(value|prices?|worth)\b|\b(value|worth)\b.*\b(total|sum)\b"
               r"|\bhow much\b.*\b(worth|value)\b")
"""The summed prices of events ("total value of products added to cart", "sum of cart prices");
over purchases that is revenue, which the resolver's keywords read."""
HELPFUL = r"\bhelpful\w*\b|\bupvot\w*\b|\bvotes?\b"
NONE_HELPFUL = r"\b(no|zero|0|nobody|none|never|without|not)\b"
SHARE = r"(\b(share|fraction|percent\w*|proportion|pct|rate)\b|%)"
EVENT_FILTERED = frozenset({"users", "events", "items", "categories", "brands", "sessions",
                            "mean_price", "median_price", "price_total"})
"""Metrics whose meaning a plan's event-type filter narrows ("items bought", "views' price")."""


@dataclass(frozen=True)
class Measure:
    """A metric and the event type it is counted over (None: every event)."""

    metric: str
    event_type: str | None = None

    def ungrouped(self, text: str) -> bool:
        """Whether the question asks for one figure ("avg reviews per asin" names items but
        does not rank them), so a grouping the resolver read must go."""
        return not re.search(RANKED + r"|\bby\b", text)


def _first_event(text: str) -> str | None:
    """The metric prefix of the first event word in `text`, or None."""
    found = [(m.start(), name) for name, pattern in FUNNEL
             if (m := re.search(pattern, text)) is not None]
    return min(found)[1] if found else None


def _helpful(text: str) -> Measure | None:
    if not re.search(HELPFUL, text):
        return None
    if re.search(SHARE, text):
        return Measure("helpful_review_share")
    if re.search(MEAN, text):
        return Measure("mean_helpful_votes")
    if re.search(NONE_HELPFUL, text):
        return Measure("unhelpful_reviews")
    return None


def _per(text: str, kind: str | None) -> Measure | None:
    """Means per user, per session, per item."""
    mean = re.search(MEAN, text)
    if mean is None or (mean.group(0) == "per" and re.search(RANKED, text)):
        return None
    if re.search(r"\breviews?\b", text) and re.search(ITEM, text) and not re.search(
            rf"{PEOPLE}|\b(rating|rated|stars?)\b|{RANKED}", text):
        return Measure("reviews_per_item")
    if re.search(SESSION, text):
        return Measure(f"{kind}_per_session" if kind else "events_per_session")
    if kind and re.search(PEOPLE, text) and not re.search(
            r"\b(buyers?|purchasers?|(purchasing|paying|buying) (users?|customers?))\b", text):
        return Measure(f"{kind}_per_user")
    return None


def _distinct_among(text: str, kind: str | None) -> Measure | None:
    """Distinct items / categories / brands / sessions among one kind of event."""
    if kind is None or not re.search(DISTINCT, text):
        return None
    if re.search(RANKED, text):
        return None  # "top 3 categories by number of favourites" ranks, it does not count
    if re.search(rf"(how many|#|number of)\s*(of\s+)?(\w+\s+)?{SESSION}", text):
        return Measure("sessions", EVENT_OF[kind])
    counted = re.search(DISTINCT, text)
    for metric, pattern in DISTINCT_THINGS.items():
        thing = re.search(pattern, text)
        if thing is None:
            continue
        person = re.search(PEOPLE, text[counted.end():]) if counted else None
        if person is not None and counted.end() + person.start() < thing.start():
            return None  # "how many distinct users bought a samsung product" counts people
        if metric == "items" and not re.search(
                r"\b(distinct|unique|different|diff|diffrent)\b", text):
            return None  # "how many items were sold" is the number of purchases
        return Measure(metric, EVENT_OF[kind])
    return None


USERS_WITH_SESSIONS = r"\b(users?|people|ppl|customers?)\s+with\b.*\bsessions\b"
"""People described by their sessions ("users with 2+ sessions"): a share of people."""


def _session_share(text: str) -> Measure | None:
    """Shares of sessions: "% of carted sessions that bought", "what share of sessions ended
    with a purchase" (the session, not the user or the event, is counted)."""
    if not (re.search(SESSION, text) and re.search(SHARE, text)
            and re.search(EVENT_WORDS["purchases"], text)) or re.search(USERS_WITH_SESSIONS, text):
        return None
    if re.search(EVENT_WORDS["carts"], text):
        return Measure("cart_session_purchase_rate")
    return Measure("session_conversion_rate")


def refine_measure(text: str) -> Measure | None:
    """The measure a normalised question asks for when it is one of the shapes of the module
    docstring, else None (the keyword pass stands)."""
    helpful = _helpful(text) or _session_share(text)
    if helpful is not None:
        return helpful
    kind = _first_event(text)
    if re.search(LOWEST_PRICE, text):
        return Measure("min_purchase_price")
    priced = re.search(PRICE, text)
    if kind not in (None, "purchases") and re.search(TOTAL_VALUE, text):
        return Measure("price_total", EVENT_OF[kind])  # "total value of carted products"
    if priced and re.search(r"\bmedian\b", text):
        return Measure("median_price", EVENT_OF[kind] if kind else None)
    if priced and re.search(MEAN, text) and not re.search(
            r"order value|\baov\b", text):
        return Measure("mean_price", EVENT_OF[kind] if kind else None)
    return _per(text, kind) or _distinct_among(text, kind)
