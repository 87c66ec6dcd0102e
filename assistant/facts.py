"""Facts about a user, an item or a segment, straight from the workspace (never from the LLM).

Every fact carries a key so answers can cite it as `[F:key]`; reviews are cited `[R:review_id]`
and items `[I:item_id]`. Review text is untrusted input: it is returned as data, and prompts
wrap it in delimiters. Personal data in it (e-mails, phones, addresses, card numbers, the
reviewer's own names) is masked here, before any tool can show it or put it into a prompt,
unless the caller turns `mask_pii` off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from core.errors import InputError
from retrieval import pii
from store.queries import source_of_user, table_exists

REVIEWER_NAMES = ("(SELECT list(DISTINCT n.reviewer_name) FROM reviews n WHERE n.source = "
                  "r.source AND n.user_id = r.user_id AND n.reviewer_name IS NOT NULL)")
"""SQL: every display name the author of review `r` wrote under (masked in its text)."""


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date().isoformat()
    return str(value)


@dataclass
class ReviewFact:
    """One review as evidence: id, item, rating, date, and its (untrusted) text."""

    review_id: str
    item_id: str
    item_title: str | None
    rating: float | None
    date: str | None
    summary: str | None
    text: str | None

    def snippet(self, limit: int = 400) -> str:
        """Summary plus the start of the text, for prompts and display."""
        body = " ".join(x for x in (self.summary, self.text) if x)
        return body if len(body) <= limit else body[: limit - 1] + "…"


def review_fact(row: Sequence[Any], mask_pii: bool = True) -> ReviewFact:
    """A ReviewFact from (id, item, title, rating, ts, summary, text, reviewer names), with
    personal data in summary and text masked unless `mask_pii` is off."""
    review_id, item_id, title, rating, ts, summary, text, names = row
    if mask_pii:
        summary = pii.mask_text(summary, names or ())
        text = pii.mask_text(text, names or ())
    return ReviewFact(str(review_id), str(item_id), title,
                      None if rating is None else float(rating), _iso(ts), summary, text)


@dataclass
class UserFacts:
    """Everything the assistant may say about one user."""

    source: str
    user_id: str
    facts: dict[str, Any]
    scores: dict[str, Any] = field(default_factory=dict)
    top_items: list[dict[str, Any]] = field(default_factory=list)
    recent_items: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[ReviewFact] = field(default_factory=list)

    def citation_ids(self) -> dict[str, set[str]]:
        """Ids this user's answers may cite, by citation kind."""
        items = {i["item_id"] for i in self.top_items} | {i["item_id"] for i in self.recent_items}
        return {
            "F": set(self.facts) | set(self.scores),
            "R": {r.review_id for r in self.reviews},
            "I": items | {r.item_id for r in self.reviews},
            "U": {self.user_id},
        }


def user_facts(
    con: duckdb.DuckDBPyConnection,
    user_id: str,
    source: str | None = None,
    n_reviews: int = 20,
    n_recent: int = 10,
    mask_pii: bool = True,
) -> UserFacts:
    """Activity counts, dates, purchases, ratings, scores, predicted items and reviews (personal
    data in review text masked unless `mask_pii` is off)."""
    source = source_of_user(con, user_id, source)
    row = con.execute(
        """
        SELECT count(*), count(DISTINCT item_id),
               count(*) FILTER (WHERE event_type = 'view'),
               count(*) FILTER (WHERE event_type = 'cart'),
               count(*) FILTER (WHERE event_type = 'fav'),
               count(*) FILTER (WHERE event_type = 'purchase'),
               count(*) FILTER (WHERE event_type = 'review'),
               min(ts), max(ts), count(DISTINCT session_id),
               sum(price) FILTER (WHERE event_type = 'purchase'),
               mode(category), mode(brand)
        FROM events WHERE source = ? AND user_id = ?
        """,
        [source, user_id],
    ).fetchone()
    keys = ["events", "distinct_items", "views", "carts", "favs", "purchases", "reviews_written",
            "first_activity", "last_activity", "sessions", "purchase_spend", "top_category",
            "top_brand"]
    facts: dict[str, Any] = {}
    for key, value in zip(keys, row, strict=True):
        if key in ("first_activity", "last_activity"):
            value = _iso(value)
        if value not in (None, 0) or key in ("events", "purchases"):
            facts[key] = round(value, 2) if isinstance(value, float) else value
    rating = con.execute("SELECT avg(rating), count(rating) FROM reviews WHERE source = ? AND "
                         "user_id = ?", [source, user_id]).fetchone()
    if rating and rating[1]:
        facts["mean_rating_given"] = round(float(rating[0]), 2)
        facts["ratings_given"] = int(rating[1])
    recent = con.execute(
        """
        SELECT e.item_id, any_value(i.title), max(e.event_type), max(e.ts), max(e.ordinal)
        FROM events e LEFT JOIN items i ON i.source = e.source AND i.item_id = e.item_id
        WHERE e.source = ? AND e.user_id = ?
        GROUP BY e.item_id ORDER BY max(e.ts) DESC NULLS LAST, max(e.ordinal) DESC LIMIT ?
        """,
        [source, user_id, n_recent],
    ).fetchall()
    recent_items = [{"item_id": r[0], "title": r[1], "last_event": r[2], "date": _iso(r[3])}
                    for r in recent]
    result = UserFacts(source=source, user_id=user_id, facts=facts, recent_items=recent_items)
    if table_exists(con, "user_scores"):
        _add_scores(con, result)
    result.reviews = _reviews(con, source, user_id, n_reviews, mask_pii)
    return result


def _add_scores(con: duckdb.DuckDBPyConnection, result: UserFacts) -> None:
    row = con.execute(
        "SELECT intent_p_any, churn_risk, segment, top_items, top_scores, model_version, "
        "scored_at FROM user_scores WHERE source = ? AND user_id = ?",
        [result.source, result.user_id],
    ).fetchone()
    if row is None:
        return
    intent, churn, segment, items, scores, version, scored_at = row
    if intent is not None:
        result.scores["intent_probability"] = round(float(intent), 3)
    if churn is not None:
        result.scores["churn_risk"] = round(float(churn), 3)
    if segment is not None:
        result.scores["segment"] = int(segment)
    result.scores["model_version"] = version
    result.scores["scored_at"] = _iso(scored_at)
    titles = dict(con.execute(
        "SELECT item_id, title FROM items WHERE source = ? AND list_contains(?, item_id)",
        [result.source, list(items or [])]).fetchall())
    result.top_items = [
        {"rank": rank, "item_id": item, "title": titles.get(item), "score": round(float(s), 4)}
        for rank, (item, s) in enumerate(zip(items or [], scores or [], strict=True), start=1)
    ]


def _reviews(con: duckdb.DuckDBPyConnection, source: str, user_id: str,
             limit: int, mask_pii: bool = True) -> list[ReviewFact]:
    rows = con.execute(
        f"""
        SELECT r.review_id, r.item_id, i.title, r.rating, r.ts, r.summary, r.text,
               {REVIEWER_NAMES}
        FROM reviews r LEFT JOIN items i ON i.source = r.source AND i.item_id = r.item_id
        WHERE r.source = ? AND r.user_id = ? ORDER BY r.ts DESC NULLS LAST LIMIT ?
        """,
        [source, user_id, limit],
    ).fetchall()
    return [review_fact(r, mask_pii) for r in rows]


@dataclass
class ItemFacts:
    """Catalog attributes and review statistics of one item."""

    source: str
    item_id: str
    facts: dict[str, Any]
    reviews: list[ReviewFact] = field(default_factory=list)


def item_facts(con: duckdb.DuckDBPyConnection, source: str, item_id: str,
               n_reviews: int = 30, mask_pii: bool = True) -> ItemFacts:
    """Title, brand, category, price, popularity and reviews of an item (personal data in
    review text masked unless `mask_pii` is off)."""
    attrs = con.execute(
        "SELECT title, brand, category, price, description FROM items WHERE source = ? AND "
        "item_id = ?", [source, item_id]).fetchone()
    counts = con.execute(
        "SELECT count(*), count(DISTINCT user_id), count(*) FILTER (WHERE event_type = "
        "'purchase') FROM events WHERE source = ? AND item_id = ?", [source, item_id]).fetchone()
    if attrs is None and not counts[0]:
        raise InputError(f"unknown item {item_id!r} in source {source!r}")
    facts: dict[str, Any] = {"item_id": item_id, "events": counts[0], "users": counts[1]}
    if counts[2]:
        facts["purchases"] = counts[2]
    if attrs is not None:
        for key, value in zip(("title", "brand", "category", "price", "description"), attrs,
                              strict=True):
            if value is not None:
                facts[key] = value if key != "description" else value[:600]
    rating = con.execute("SELECT avg(rating), count(*) FROM reviews WHERE source = ? AND "
                         "item_id = ?", [source, item_id]).fetchone()
    if rating[1]:
        facts["mean_rating"] = round(float(rating[0]), 2)
        facts["review_count"] = int(rating[1])
    rows = con.execute(
        f"SELECT r.review_id, r.item_id, r.rating, r.ts, r.summary, r.text, {REVIEWER_NAMES} "
        "FROM reviews r WHERE r.source = ? AND r.item_id = ? "
        "ORDER BY r.helpful_votes DESC NULLS LAST, r.ts DESC LIMIT ?",
        [source, item_id, n_reviews]).fetchall()
    reviews = [review_fact((r[0], r[1], facts.get("title"), *r[2:]), mask_pii) for r in rows]
    return ItemFacts(source=source, item_id=item_id, facts=facts, reviews=reviews)
