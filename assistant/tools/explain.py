"""`explain`: why the model suggests an item to a user, from evidence computed in SQL.

Evidence: the model score and rank (from `user_scores.top_items`), the user's own items that
lead to the target — co-occurrence (other users who had both), transitions (how often the
user's item directly preceded the target in anyone's history), shared category and brand — and
review snippets about the item that best match the user's interests (retrieval when indexed,
else helpfulness). The LLM proposes 2–3 claims, each verified by code (`narrate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from assistant.claims.schema import ClaimDraft, tagged_claims
from assistant.facts import ItemFacts, item_facts
from assistant.grounding import personal_check
from assistant.llm.backends import LLMBackend
from assistant.tools.evidence import (
    claim_evidence,
    claim_fact_block,
    index_available,
    review_block,
    review_meta,
)
from assistant.tools.narrate import PROSE_MAX_TOKENS, ProseResult, narrate
from assistant.tools.subjects import catalog_names, user_evidence, zero_measures
from assistant.tools.trace import ToolRun
from prompts import load_prompt
from retrieval.search import Retriever, rank_by_embedding
from retrieval.store import REVIEWS

PROMPT = "explain"
LEADS = 3
MIN_CLAIMS = 1

CO_OCCURRENCE_SQL = """
WITH mine AS (SELECT DISTINCT item_id FROM events WHERE source = $source AND user_id = $user
              AND item_id <> $item),
both_users AS (SELECT DISTINCT user_id FROM events WHERE source = $source AND item_id = $item
               AND user_id <> $user)
SELECT e.item_id, count(DISTINCT e.user_id) AS users
FROM events e JOIN both_users b USING (user_id) JOIN mine m USING (item_id)
WHERE e.source = $source GROUP BY e.item_id ORDER BY users DESC, e.item_id LIMIT $k
"""

TRANSITION_SQL = """
WITH seq AS (
    SELECT user_id, item_id,
           lead(item_id) OVER (PARTITION BY user_id ORDER BY ts NULLS LAST, ordinal) AS nxt
    FROM events WHERE source = $source),
mine AS (SELECT DISTINCT item_id FROM events WHERE source = $source AND user_id = $user
         AND item_id <> $item)
SELECT s.item_id, count(*) AS n FROM seq s JOIN mine m USING (item_id)
WHERE s.nxt = $item GROUP BY s.item_id ORDER BY n DESC, s.item_id LIMIT $k
"""

SHARED_SQL = """
WITH target AS (SELECT any_value(category) AS category, any_value(brand) AS brand
                FROM (SELECT category, brand FROM events WHERE source = $source AND
                      item_id = $item UNION ALL SELECT category, brand FROM items
                      WHERE source = $source AND item_id = $item))
SELECT t.category, t.brand,
       count(*) FILTER (WHERE e.category = t.category AND e.item_id <> $item),
       count(*) FILTER (WHERE e.brand = t.brand AND e.item_id <> $item),
       count(*) FILTER (WHERE e.item_id = $item)
FROM target t LEFT JOIN events e ON e.source = $source AND e.user_id = $user
GROUP BY t.category, t.brand
"""

STANDING_SQL = """
WITH per_item AS (SELECT item_id, count(DISTINCT user_id) AS users FROM events
                  WHERE source = $source GROUP BY item_id),
rated AS (SELECT item_id, avg(rating) AS mean FROM reviews WHERE source = $source
          AND rating IS NOT NULL GROUP BY item_id)
SELECT (SELECT floor(100 * avg(CASE WHEN p.users < t.users THEN 1 ELSE 0 END))
        FROM per_item p, (SELECT users FROM per_item WHERE item_id = $item) t),
       (SELECT floor(100 * avg(CASE WHEN r.mean < t.mean THEN 1 ELSE 0 END))
        FROM rated r, (SELECT mean FROM rated WHERE item_id = $item) t)
"""
"""Where the item stands among the source's items: the share with fewer users, and among
reviewed items the share with a lower mean rating (so "popular" or "highly rated" can be
checked against a figure instead of refused or taken on trust)."""


@dataclass
class ExplainResult(ProseResult):
    """The explanation, its evidence and provenance."""

    user_id: str
    item_id: str
    source: str
    explanation: str


def item_evidence(con: duckdb.DuckDBPyConnection, source: str, user_id: str, item_id: str,
                  top_items: list[dict[str, Any]]) -> dict[str, Any]:
    """Score/rank and the SQL evidence linking the user's items to `item_id`."""
    params = {"source": source, "user": user_id, "item": item_id, "k": LEADS}
    facts: dict[str, Any] = {}
    ranked = {i["item_id"]: i for i in top_items}
    if item_id in ranked:
        facts["rank"] = ranked[item_id]["rank"]
        raw = con.execute("SELECT top_scores[list_position(top_items, $item)], "
                          "list_sum(top_scores) FROM user_scores WHERE source = $source AND "
                          "user_id = $user", {k: v for k, v in params.items() if k != "k"}
                          ).fetchone()
        if raw and raw[0] is not None:
            score, total = float(raw[0]), float(raw[1] or 0)
            if score >= 0.001:  # tiny scores read badly; their share of the top-k does not
                facts["model_score"] = round(score, 4)
            if total > 0:
                facts["score_share_of_top_k"] = round(score / total, 3)
        facts["top_k"] = len(top_items)
    elif top_items:
        facts["rank"] = f"not in the user's top {len(top_items)}"
    else:
        facts["rank"] = "no model scores for this user"
    co = con.execute(CO_OCCURRENCE_SQL, params).fetchall()
    if co:
        facts["co_occurring_items"] = ", ".join(f"{r[0]} (shared by {r[1]} users)" for r in co)
    tr = con.execute(TRANSITION_SQL, params).fetchall()
    if tr:
        facts["preceding_items"] = ", ".join(f"{r[0]} (led to it {r[1]} times)" for r in tr)
    shared = con.execute(SHARED_SQL, {k: v for k, v in params.items() if k != "k"}).fetchone()
    if shared:
        category, brand, same_cat, same_brand, own = shared
        if category is not None:
            facts["item_category"] = category
            facts["user_events_in_category"] = int(same_cat or 0)
        if brand is not None:
            facts["item_brand"] = brand
            facts["user_events_with_brand"] = int(same_brand or 0)
        facts["user_events_on_item"] = int(own or 0)
    return facts


def item_standing(con: duckdb.DuckDBPyConnection, source: str, item_id: str
                  ) -> dict[str, str]:
    """The item's percentiles among the source's items by users and by mean rating, as
    self-describing facts (absent when the item has no events or no reviews)."""
    users, rating = con.execute(STANDING_SQL, {"source": source, "item": item_id}).fetchone()
    facts = {}
    if users is not None:
        facts["item_users_percentile"] = f"more users than {int(users)}% of the items"
    if rating is not None:
        facts["item_rating_percentile"] = (f"a higher mean rating than {int(rating)}% of the "
                                           "reviewed items")
    return facts


def _item_reviews(item: ItemFacts, retriever: Retriever | None, interests: str, k: int
                  ) -> tuple[list[Any], str]:
    if not item.reviews:
        return [], "none"
    if index_available(retriever) and interests:
        assert retriever is not None
        vector = retriever.embedder.embed([interests])[0]
        hits = rank_by_embedding(retriever.store, REVIEWS, [r.review_id for r in item.reviews],
                                 vector, k)
        by_id = {r.review_id: r for r in item.reviews}
        chosen = [by_id[h.id] for h in hits if h.id in by_id]
        if chosen:
            return chosen, "retrieval"
    return list(item.reviews[:k]), "helpfulness"


def explain(user_id: str, item_id: str, source: str | None = None, *,
            con: duckdb.DuckDBPyConnection, backend: LLMBackend,
            retriever: Retriever | None = None, n_reviews: int = 3,
            on_chunk: Callable[[str], None] | None = None,
            mask_pii: bool = True, prose_max_tokens: int = PROSE_MAX_TOKENS) -> ExplainResult:
    """Score, rank, leading items and matching reviews for (user, item), explained with cites
    (personal data in review text masked unless `mask_pii` is off; the text capped at
    `prose_max_tokens`, the `llm.prose_max_tokens` setting)."""
    run = ToolRun(tool="explain", model=backend.model)
    with run.step("gather evidence") as step:
        user = user_evidence(con, user_id, source, retriever, k=2, mask_pii=mask_pii)
        src = user.user.source
        item = item_facts(con, src, item_id, mask_pii=mask_pii)  # unknown items: InputError
        facts: dict[str, Any] = {"user_id": user.user.user_id, "item_id": item_id,
                                 **{f"item_{k}": v for k, v in item.facts.items()
                                    if k in ("title", "brand", "category", "price",
                                             "mean_rating", "review_count", "users")}}
        facts.setdefault("item_review_count", 0)  # an item without reviews says so
        facts.update(item_standing(con, src, item_id))
        facts.update(item_evidence(con, src, user.user.user_id, item_id, user.user.top_items))
        if "item_mean_rating" in facts:
            facts["rating_scale"] = "1 to 5 stars"
        interests = " ".join(str(user.facts.get(k, "")) for k in ("top_category", "top_brand",
                                                                  "recent_items"))
        interests += " " + " ".join(r.snippet(200) for r in user.reviews)
        reviews, how = _item_reviews(item, retriever, interests.strip(), n_reviews)
        step.detail = f"{len(facts)} facts, {len(reviews)} item reviews by {how}"
    prompt = load_prompt(PROMPT)
    run.use_prompt(prompt.ref)
    shown = {k: v for k, v in facts.items() if k not in ("user_id", "item_id")}
    if isinstance(facts.get("rank"), int) and "top_k" in facts:  # a rank says what it is in
        shown["rank"] = f"{facts['rank']} of this customer's top {facts['top_k']} suggestions"
    messages = prompt.render(item_id=item_id, user_id=user.user.user_id, source=src,
                             facts=claim_fact_block(shown), reviews=review_block(reviews))
    ev = claim_evidence(shown, reviews,
                        context={"user_id": user.user.user_id, "item_id": item_id,
                                 "source": src},
                        zero=zero_measures(user.facts), names=catalog_names(con, src))
    narration = narrate(backend, messages, evidence=ev, run=run,
                        fallback=fallback_claims(facts, reviews), min_claims=MIN_CLAIMS,
                        on_chunk=on_chunk, extra_check=personal_check(facts),
                        max_tokens=prose_max_tokens)
    return ExplainResult(user_id=user.user.user_id, item_id=item_id, source=src,
                         explanation=narration.text, facts=facts,
                         reviews=[{**review_meta(r), "snippet": r.snippet(300)}
                                  for r in reviews], **narration.outcome(run))


def fallback_claims(facts: dict[str, Any], reviews: list[Any]) -> list[ClaimDraft]:
    """A deterministic explanation from the evidence alone, one cited claim per sentence."""
    parts = []
    if isinstance(facts.get("rank"), int):
        parts.append(f"The model ranks item {facts['item_id']} at position {facts['rank']} of "
                     f"the top {facts['top_k']} for this customer [F:rank] [F:top_k].")
        if "score_share_of_top_k" in facts:
            parts.append(f"It holds a share of {facts['score_share_of_top_k']} of the scores "
                         f"in the top {facts['top_k']} [F:score_share_of_top_k] [F:top_k].")
    else:
        parts.append(f"Item {facts['item_id']}: {facts['rank']} [F:rank].")
    for key, label in (("co_occurring_items", "Users who had it also had the user's items"),
                       ("preceding_items", "The user's items that directly preceded it"),
                       ("user_events_in_category", "User events in the item's category"),
                       ("user_events_with_brand", "User events with the item's brand")):
        if facts.get(key):
            parts.append(f"{label}: {facts[key]} [F:{key}].")
    for review in reviews[:1]:
        rating = f" rated it {review.rating:g}" if review.rating is not None else ""
        date = f" on {review.date}" if review.date else ""
        if rating or date:
            parts.append(f"A customer{rating}{date} [R:{review.review_id}].")
    if not reviews:
        parts.append(f"Item {facts['item_id']} has no reviews yet [F:item_review_count].")
    return tagged_claims(" ".join(parts))
