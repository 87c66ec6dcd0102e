"""`user_summary`: a cited briefing about one customer, for customer service.

Facts and scores come from the workspace, the 3–5 most relevant reviews from retrieval (or
helpfulness/recency), and the prose from claims the LLM proposes and code verifies one by one
(`narrate`); when too few survive twice, a facts-only summary is shown with a notice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from assistant.claims.schema import ClaimDraft, tagged_claims
from assistant.grounding import personal_check
from assistant.llm.backends import LLMBackend
from assistant.tools.evidence import claim_evidence, claim_fact_block, review_block
from assistant.tools.narrate import PROSE_MAX_TOKENS, Narration, ProseResult, narrate
from assistant.tools.subjects import UserEvidence, catalog_names, user_evidence, zero_measures
from assistant.tools.trace import ToolRun
from prompts import load_prompt
from retrieval.search import Retriever

PROMPT = "user_summary"
SUMMARY_FACTS = ("events", "first_activity", "last_activity", "views", "carts", "favs",
                 "purchases", "reviews_written", "purchase_spend", "top_category", "top_brand",
                 "mean_rating_given", "rating_scale", "intent_probability", "churn_risk",
                 "predicted_next_items", "recent_items")
"""The facts shown to the model (the rest are returned, not prompted: fewer tokens, fewer
ways to misread them; a derived span or a bare segment number only invited miscounted
claims)."""
MIN_CLAIMS = 2


@dataclass
class SummaryResult(ProseResult):
    """A customer briefing with the facts, scores and reviews it rests on."""

    user_id: str
    source: str
    summary: str
    review_selection: str = ""


def facts_only_summary(evidence: UserEvidence) -> list[ClaimDraft]:
    """A deterministic summary from the facts alone (the fallback), one cited claim per
    sentence."""
    f = evidence.facts
    parts = [f"Customer {f['user_id']} in {f['source']} has {f.get('events', 0)} recorded "
             f"events [F:events]."]
    if f.get("first_activity") and f.get("last_activity"):
        parts.append(f"Activity runs from {f['first_activity']} [F:first_activity] to "
                     f"{f['last_activity']} [F:last_activity].")
    counts = [(k, f[k]) for k in ("views", "carts", "favs", "purchases", "reviews_written")
              if f.get(k)]
    if counts:
        parts.append("Counts: " + ", ".join(f"{v} {k.replace('_', ' ')} [F:{k}]"
                                            for k, v in counts) + ".")
    for key, label in (("top_category", "Most frequent category"),
                       ("top_brand", "Most frequent brand"),
                       ("mean_rating_given", "Average rating given"),
                       ("purchase_spend", "Total purchase spend"),
                       ("intent_probability", "Predicted purchase probability"),
                       ("churn_risk", "Churn risk"), ("segment", "Segment")):
        if f.get(key) is not None:
            parts.append(f"{label}: {f[key]} [F:{key}].")
    if evidence.reviews:
        r = evidence.reviews[0]
        rating = f" rated {r.rating:g}" if r.rating is not None else ""
        date = f" on {r.date}" if r.date else ""
        parts.append(f"The most relevant review{rating}{date} is about item {r.item_id} "
                     f"[R:{r.review_id}].")
    return tagged_claims(" ".join(parts))


def user_summary(user_id: str, source: str | None = None, *, con: duckdb.DuckDBPyConnection,
                 backend: LLMBackend, retriever: Retriever | None = None, n_reviews: int = 3,
                 on_chunk: Callable[[str], None] | None = None,
                 mask_pii: bool = True,
                 prose_max_tokens: int = PROSE_MAX_TOKENS) -> SummaryResult:
    """Facts, scores, relevant reviews and a grounded, cited summary of one customer
    (personal data in review text masked unless `mask_pii` is off; the text capped at
    `prose_max_tokens`, the `llm.prose_max_tokens` setting)."""
    run = ToolRun(tool="user_summary", model=backend.model)
    with run.step("gather facts and reviews") as step:
        evidence = user_evidence(con, user_id, source, retriever, k=n_reviews,
                                 mask_pii=mask_pii)
        step.detail = (f"{len(evidence.facts)} facts, {len(evidence.reviews)} reviews by "
                       f"{evidence.review_selection}")
    prompt = load_prompt(PROMPT)
    run.use_prompt(prompt.ref)
    shown = {k: evidence.facts[k] for k in SUMMARY_FACTS
             if k in evidence.facts and evidence.facts[k] != 0}  # a zero is no claim to make
    messages = prompt.render(user_id=evidence.user.user_id, source=evidence.user.source,
                             facts=claim_fact_block(shown),
                             reviews=review_block(evidence.reviews))
    ev = claim_evidence(shown, evidence.reviews,
                        context={"user_id": evidence.user.user_id,
                                 "source": evidence.user.source},
                        zero=zero_measures(evidence.facts),
                        names=catalog_names(con, evidence.user.source))
    narration: Narration = narrate(backend, messages, evidence=ev, run=run,
                                   fallback=facts_only_summary(evidence), min_claims=MIN_CLAIMS,
                                   on_chunk=on_chunk, extra_check=personal_check(shown),
                                   max_tokens=prose_max_tokens)
    return SummaryResult(user_id=evidence.user.user_id, source=evidence.user.source,
                         summary=narration.text, facts=evidence.facts,
                         reviews=evidence.review_dicts(),
                         review_selection=evidence.review_selection, **narration.outcome(run))
