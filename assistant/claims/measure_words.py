"""The words that name a measure next to a number ("23 *purchases*"), and what each fact measures.

Used by the number rule of :mod:`assistant.claims.verify` (a number must be the value of a
cited fact that counts what the sentence says it counts) and by the repair hints.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.claims import wording

MEASURES: dict[str, frozenset[str]] = {name: frozenset(words.split()) for name, words in {
    "purchases": "purchase purchases purchased purchasing buy buys bought buying order orders "
                 "ordered",
    "reviews": "review reviews reviewed wrote written",
    "ratings": "rating ratings rated star stars",
    "views": "view views viewed browsed",
    "carts": "cart carts basket",
    "favs": "favourite favourites favorite favorites favs wishlist saved",
    "events": "event events interactions actions activities",
    "items": "item items product products",
    "sessions": "session sessions visits",
    "time": "day days week weeks month months year years",
    "users": "user users customers members shoppers people buyers",
    "spend": "spent spend spending",
    "probability": "probability chance likelihood",
    "risk": "risk churn",
    "times": "times",
    "rank": "rank ranked ranks position",
    "price": "price prices priced",
    "share": "share percentile",
    "score": "score scores",
    "segment": "segment segments cluster"}.items()}
"""Measure → the words that name it next to a number."""
WORD_MEASURE = {word: name for name, words in MEASURES.items() for word in words}
FACT_MEASURES: dict[str, frozenset[str]] = {key: frozenset(names.split()) for key, names in {
    "events": "events", "distinct_items": "items", "views": "views", "carts": "carts",
    "favs": "favs", "purchases": "purchases items", "reviews_written": "reviews ratings",
    "ratings_given": "ratings reviews", "mean_rating_given": "ratings",
    "sessions": "sessions", "purchase_spend": "spend price", "active_span": "time",
    "intent_probability": "probability purchases", "churn_risk": "risk probability",
    "segment": "segment", "users_in_segment": "users", "top_categories": "events",
    "top_brands": "events", "top_reviewed_items": "reviews", "mean_price": "price",
    "source_median_user_price": "price users", "price_percentile": "share price",
    "low_rating_share": "share ratings", "rank": "rank items", "top_k": "rank items",
    "model_score": "score", "score_share_of_top_k": "share score", "item_price": "price",
    "item_mean_rating": "ratings", "item_review_count": "reviews ratings",
    "item_users": "users", "item_users_percentile": "share items users",
    "item_rating_percentile": "share items ratings", "user_events_in_category": "events",
    "user_events_with_brand": "events", "user_events_on_item": "events"}.items()}
"""Fact key → the measures its value may be called (others: words of its key and value)."""

TOKEN = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*%?|[,;:()]")
WINDOW_AFTER, WINDOW_BEFORE = 2, 3
QUALIFIERS = frozenset((
    "top", "best", "positive", "negative", "good", "bad", "great", "excellent", "glowing",
    "favorable", "favourable", "helpful", "verified", "recent", "happy", "satisfied", "loyal",
    "repeat"))
"""Words that narrow a measure ("16 *top* reviews"): a count of all reviews is not one of them
unless the cited fact's own name or value says so."""


def measures_of(ident: str, value: Any) -> set[str]:
    """The measures a cited id may be called next to its number."""
    kind, key = ident.split(":", 1)
    if kind == "R":
        return {"ratings"}
    if kind == "I":
        return set()
    found = set(FACT_MEASURES.get(key, ()))
    words = re.findall(r"[a-z]+", f"{key.replace('_', ' ')} {value}".lower())
    return found | {WORD_MEASURE[w] for w in words if w in WORD_MEASURE}


def measure_near(before: str, after: str) -> tuple[str, str] | None:
    """The measure word nearest to a number with `before` / `after` it, in its clause: first
    up to `WINDOW_AFTER` words after it, else up to `WINDOW_BEFORE` words before it; a number
    followed by "out of 5" is a rating."""
    if wording.OUT_OF_SCALE.match(after):
        return "out of", "ratings"
    after = "" if wording.PERCENT.match(after) else after  # "10% of reviews": a share of them
    for tokens, limit in ((TOKEN.findall(after), WINDOW_AFTER),
                          (TOKEN.findall(before)[::-1], WINDOW_BEFORE)):
        for token in tokens[:limit]:
            if token in ",;:()" or token.lower() in wording.AVERAGING:
                break  # "their reviews average 4.8": what is averaged, not counted
            if token.lower() in WORD_MEASURE:
                return token.lower(), WORD_MEASURE[token.lower()]
    return None


def qualifier_of(after: str) -> str | None:
    """The narrowing word (:data:`QUALIFIERS`) between a number and its measure word, if any:
    "top" in "16 top reviews"."""
    for token in TOKEN.findall(after)[:WINDOW_AFTER]:
        word = token.lower()
        if word in WORD_MEASURE or token in ",;:()":
            return None
        if word in QUALIFIERS:
            return word
    return None
