"""The evidence bundle about one user that the prose tools share.

`user_evidence` gathers the user's facts and scores (`assistant.facts.user_facts`), picks the
most relevant reviews, and flattens everything into citable `[F:key]` facts plus the set of
ids an answer about this user may cite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from assistant.facts import ReviewFact, UserFacts, user_facts
from assistant.tools.evidence import DEFAULT_QUERY, select_reviews
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
        """The chosen reviews for display (id, item, rating, date, snippet)."""
        return [{"review_id": r.review_id, "item_id": r.item_id, "title": r.item_title,
                 "rating": r.rating, "date": r.date, "snippet": r.snippet(300)}
                for r in self.reviews]

    def number_facts(self) -> dict[str, Any]:
        """What numbers in an answer may come from: facts, scores, items, review ratings/dates
        (never review text, which is untrusted)."""
        return {"facts": self.facts, "top_items": self.user.top_items,
                "recent_items": self.user.recent_items,
                "reviews": [{"review_id": r.review_id, "item_id": r.item_id, "rating": r.rating,
                             "date": r.date} for r in self.reviews]}


def _item_label(item: dict[str, Any]) -> str:
    title = item.get("title")
    return f"{item['item_id']} ({title[:60]})" if title else str(item["item_id"])


def flat_facts(user: UserFacts) -> dict[str, Any]:
    """Facts, scores and item lists under citable keys."""
    facts: dict[str, Any] = {"user_id": user.user_id, "source": user.source, **user.facts}
    for key, value in user.scores.items():
        if key not in ("model_version", "scored_at") and value is not None:
            facts[key] = value
    if user.top_items:
        facts["predicted_next_items"] = [_item_label(i) for i in user.top_items[:5]]
    if user.recent_items:
        facts["recent_items"] = [_item_label(i) for i in user.recent_items[:5]]
    if "mean_rating_given" in facts:
        facts["rating_scale"] = "1 to 5 stars"
    return facts


def user_evidence(con: duckdb.DuckDBPyConnection, user_id: str, source: str | None = None,
                  retriever: Retriever | None = None, k: int = 4,
                  query: str = DEFAULT_QUERY) -> UserEvidence:
    """Everything a prose tool may say about one user (unknown users raise `InputError`)."""
    user = user_facts(con, user_id, source, n_reviews=MAX_REVIEWS_READ)
    chosen, how = select_reviews(con, user.reviews, k, retriever, query, user.source,
                                 user.user_id)
    facts = flat_facts(user)
    allowed = user.citation_ids()
    allowed["F"] = set(facts)
    allowed["R"] = {r.review_id for r in chosen}
    allowed["I"] = allowed["I"] | {r.item_id for r in chosen}
    return UserEvidence(user=user, facts=facts, reviews=chosen, review_selection=how,
                        allowed=allowed)
