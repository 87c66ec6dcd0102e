"""Evidence for the prose tools: the most relevant reviews, and safe prompt blocks.

Reviews are chosen by semantic similarity when the workspace has a review index (retrieval's
exact per-user ranking), otherwise by helpfulness and recency. Review text is untrusted: it is
wrapped in `<review id=…>` tags with any angle brackets inside neutralised, so a review can
neither close its tag nor pose as an instruction block; the prompts say that review content is
data, never instructions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from assistant.claims.verify import EvidenceSet, ReviewEvidence
from assistant.facts import ReviewFact
from retrieval.search import Retriever
from retrieval.store import REVIEWS

log = logging.getLogger(__name__)

SNIPPET_CHARS = 120
TITLE_CHARS = 30
DEFAULT_QUERY = "quality, what they liked or disliked, problems, what they use it for"


def neutralise(text: str | None, limit: int = SNIPPET_CHARS) -> str:
    """Review text made safe to place between tags: no markup, no newlines, bounded length."""
    text = (text or "").replace("<", "‹").replace(">", "›")
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def review_meta(review: ReviewFact) -> dict[str, Any]:
    """A review's trusted fields (id, item, title, rating, date): what numbers in an answer may
    come from. Never its text, which is untrusted."""
    return {"review_id": review.review_id, "item_id": review.item_id,
            "title": review.item_title, "rating": review.rating, "date": review.date}


def review_block(reviews: Sequence[ReviewFact], limit: int = SNIPPET_CHARS) -> str:
    """Reviews as `<review id=… item=… rating=…>text</review>` lines for a prompt."""
    if not reviews:
        return "(no reviews)"
    lines = []
    for r in reviews:
        rating = f" rating={r.rating:g}" if r.rating is not None else ""
        title = f' title="{neutralise(r.item_title, TITLE_CHARS)}"' if r.item_title else ""
        lines.append(f'<review id="{r.review_id}" item="{r.item_id}"{title}{rating}>'
                     f"{neutralise(r.snippet(limit * 2), limit)}</review>")
    return "\n".join(lines)


def fact_block(facts: Mapping[str, Any], prefix: str = "F", labels: bool = True) -> str:
    """Facts as `[F:key] key: value` lines (`[F:key] value` without `labels`: fewer prompt
    tokens), the exact citation to use beside each."""
    lines = []
    for key, value in facts.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, float):
            value = round(value, 3)
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        label = f"{key.replace('_', ' ')}: " if labels else ""
        lines.append(f"[{prefix}:{key}] {label}{value}")
    return "\n".join(lines)


def index_available(retriever: Retriever | None) -> bool:
    """Whether a retriever exists and its review collection holds anything."""
    if retriever is None:
        return False
    try:
        return retriever.store.count(REVIEWS) > 0
    except Exception as exc:  # a broken or unreachable store must not break the tool
        log.warning("review index unavailable: %s", exc)
        return False


def _helpfulness(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, int]:
    rows = con.execute("SELECT review_id, coalesce(helpful_votes, 0) FROM reviews WHERE "
                       "list_contains(?, review_id)", [ids]).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def select_reviews(con: duckdb.DuckDBPyConnection, reviews: Sequence[ReviewFact], k: int,
                   retriever: Retriever | None = None, query: str = DEFAULT_QUERY,
                   source: str | None = None, user_id: str | None = None
                   ) -> tuple[list[ReviewFact], str]:
    """The `k` most relevant of `reviews` and how they were chosen ("retrieval"/"recency")."""
    if not reviews:
        return [], "none"
    by_id = {r.review_id: r for r in reviews}
    if source and user_id and index_available(retriever):
        assert retriever is not None
        try:
            hits = retriever.user_reviews(source, user_id, query, k=k)
            chosen = [by_id[h.id] for h in hits if h.id in by_id]
            if chosen:
                return chosen[:k], "retrieval"
        except Exception as exc:
            log.warning("review retrieval failed, using recency: %s", exc)
    votes = _helpfulness(con, list(by_id))
    newest_first = sorted(reviews, key=lambda r: r.date or "", reverse=True)
    ranked = sorted(newest_first, key=lambda r: -votes.get(r.review_id, 0))  # stable
    return list(ranked[:k]), "helpfulness+recency"


def claim_evidence(facts: Mapping[str, Any], reviews: Sequence[ReviewFact], *,
                   items: Mapping[str, str | None] | None = None,
                   context: Mapping[str, Any] | None = None,
                   zero: frozenset[str] = frozenset(),
                   names: frozenset[str] = frozenset()) -> EvidenceSet:
    """The evidence a request's claims are verified against (`assistant.claims.verify`):
    citable facts, the chosen reviews (text only compared, never a source of numbers), items,
    the subject's own ids, the measures that are zero and the catalogue's names."""
    shown = {k: v for k, v in facts.items() if v is not None and v != "" and v != []}
    return EvidenceSet(
        facts=shown,
        reviews={r.review_id: ReviewEvidence(r.review_id, r.snippet(600), r.rating, r.date,
                                             r.item_id, r.item_title) for r in reviews},
        items=dict(items or {}), context=dict(context or {}), zero=zero, names=names)


def claim_fact_block(facts: Mapping[str, Any]) -> str:
    """Facts as `F:key = value` lines: the evidence id to cite, then the value to copy."""
    return "\n".join(re.sub(r"^\[F:([^\]]+)\] ", r"F:\1 = ", line)
                     for line in fact_block(facts, labels=False).splitlines())
