"""The evidence bundle about one user that the prose tools share.

`user_evidence` gathers the user's facts and scores (`assistant.facts.user_facts`), picks the
most relevant reviews, and flattens everything into citable `[F:key]` facts plus the set of
ids an answer about this user may cite.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from assistant.facts import ReviewFact, UserFacts, user_facts
from assistant.tools.evidence import DEFAULT_QUERY, review_meta, select_reviews
from retrieval.search import Retriever

MAX_REVIEWS_READ = 200


@dataclass
class UserEvidence:
    """A user's facts (flat, citable), chosen reviews and the citations allowed for them."""

    user: UserFacts
    facts: dict[str, Any]
    reviews: list[ReviewFact]
    review_selection: str
    allowed: dict[str, set[str]] = field(default_factory=dict)

    def review_dicts(self) -> list[dict[str, Any]]:
        """The chosen reviews for display (id, item, title, rating, date, snippet)."""
        return [{**review_meta(r), "snippet": r.snippet(300)} for r in self.reviews]

    def number_facts(self, shown: dict[str, Any]) -> dict[str, Any]:
        """What numbers in an answer may come from: the `shown` facts and the chosen reviews'
        trusted fields (never review text, which is untrusted)."""
        return {"user_id": self.user.user_id, "facts": shown,
                "reviews": [review_meta(r) for r in self.reviews]}


ITEMS_LISTED = 3
TITLE_CHARS = 40


def _item_label(item: dict[str, Any]) -> str:
    title = item.get("title")
    return f"{item['item_id']} ({title[:TITLE_CHARS]})" if title else str(item["item_id"])


def active_span(first: str | None, last: str | None) -> str | None:
    """The time between first and last activity in words ("1.7 years", "12 days"), so that
    prose need not compute it (a computed duration would fail the number check)."""
    if not first or not last:
        return None
    days = (dt.date.fromisoformat(last[:10]) - dt.date.fromisoformat(first[:10])).days
    return f"{days / 365.25:.1f} years" if days >= 365 else f"{days} days"


def flat_facts(user: UserFacts) -> dict[str, Any]:
    """Facts, scores and item lists under citable keys."""
    facts: dict[str, Any] = {"user_id": user.user_id, "source": user.source, **user.facts}
    span = active_span(facts.get("first_activity"), facts.get("last_activity"))
    if span:
        facts["active_span"] = span
    for key, value in user.scores.items():
        if key not in ("model_version", "scored_at") and value is not None:
            facts[key] = value
    if user.top_items:
        facts["predicted_next_items"] = [_item_label(i) for i in user.top_items[:ITEMS_LISTED]]
    if user.recent_items:
        facts["recent_items"] = [_item_label(i) for i in user.recent_items[:ITEMS_LISTED]]
    if "mean_rating_given" in facts:
        facts["rating_scale"] = "1 to 5 stars"
    return facts


def user_evidence(con: duckdb.DuckDBPyConnection, user_id: str, source: str | None = None,
                  retriever: Retriever | None = None, k: int = 4,
                  query: str = DEFAULT_QUERY, mask_pii: bool = True) -> UserEvidence:
    """Everything a prose tool may say about one user (unknown users raise `InputError`);
    personal data in review text is masked unless `mask_pii` is off."""
    user = user_facts(con, user_id, source, n_reviews=MAX_REVIEWS_READ, mask_pii=mask_pii)
    chosen, how = select_reviews(con, user.reviews, k, retriever, query, user.source,
                                 user.user_id)
    facts = flat_facts(user)
    allowed = user.citation_ids()
    allowed["F"] = set(facts)
    allowed["R"] = {r.review_id for r in chosen}
    allowed["I"] = allowed["I"] | {r.item_id for r in chosen}
    return UserEvidence(user=user, facts=facts, reviews=chosen, review_selection=how,
                        allowed=allowed)


COUNT_MEASURES = {"views": "views", "carts": "carts", "favs": "favs", "purchases": "purchases"}
"""User count fact → the measure (`assistant.claims.measure_words.MEASURES`) it counts."""
CATALOG_NAMES_MAX = 5000


def zero_measures(facts: dict[str, Any]) -> frozenset[str]:
    """Measures the data says are zero for a user: counts that are 0 or absent (the facts keep
    only non-zero counts), reviews when none were written or rated, spending without
    purchases. Only for a user's facts (with `events`), never for a segment's."""
    if "events" not in facts:
        return frozenset()
    zero = {measure for key, measure in COUNT_MEASURES.items() if not facts.get(key)}
    if not facts.get("reviews_written") and not facts.get("ratings_given"):
        zero.add("reviews")
    if "purchases" in zero:
        zero.add("spend")
    return frozenset(zero)


def catalog_names(con: duckdb.DuckDBPyConnection, source: str) -> frozenset[str]:
    """The brands and categories of a source, lower case: a claim naming one must cite the
    evidence that names it (numeric ids and very short names left out)."""
    rows = con.execute(
        "SELECT DISTINCT lower(CAST(name AS VARCHAR)) FROM (SELECT brand AS name FROM events "
        "WHERE source = $s UNION ALL SELECT category FROM events WHERE source = $s UNION ALL "
        "SELECT brand FROM items WHERE source = $s UNION ALL SELECT category FROM items WHERE "
        "source = $s) WHERE name IS NOT NULL LIMIT $n",
        {"s": source, "n": CATALOG_NAMES_MAX}).fetchall()
    return frozenset(str(r[0]) for r in rows
                     if len(str(r[0])) >= 3 and not str(r[0]).replace(".", "").isdigit())
