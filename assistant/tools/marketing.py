"""`marketing_copy`: channel-sized message variants about a real item for a user or segment.

Each variant is built from claims (`copy_claims`): the model proposes a headline, body claims
citing the item / audience facts and the item's reviews, and a call to action; code verifies
every claim on its own and applies the copy guardrails (`copy_rules`: numbers in the facts, no
invented promotions, no sensitive attributes, the shop's voice, no markup, channel lengths).
Refused parts are sent back once each and dropped if they still fail; a variant survives when
its headline and call to action pass and enough claims remain. Only when no variant survives
is the whole request sent again, once; then the facts-only template is shown (`status:
fallback`). An item with nothing to describe (no title, brand, description, named category or
reviews) gets the template directly: the model could only invent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
from langchain_core.messages.utils import convert_to_messages

from assistant.claims.render import badge, described_ids, plain_text, render_claims
from assistant.claims.verify import EvidenceSet, verify_claims
from assistant.facts import item_facts, user_facts
from assistant.llm.backends import LLMBackend
from assistant.tools.copy_claims import (
    CopyChecks,
    Outcome,
    assemble,
    draft_variants,
    repair,
    retry_feedback,
    variant_reasons,
)
from assistant.tools.copy_rules import (
    CHANNELS,
    Variant,
    check_variant,
    describable,
    template_claims,
)
from assistant.tools.evidence import claim_evidence, claim_fact_block, review_block
from assistant.tools.narrate import retry_messages
from assistant.tools.persona import subject_facts
from assistant.tools.subjects import catalog_names, zero_measures
from assistant.tools.trace import ToolRun
from core.errors import InputError
from prompts import load_prompt
from store.queries import source_of_user, table_exists, user_sources

__all__ = ["CHANNELS", "MAX_VARIANTS", "CopyResult", "Variant", "check_variant", "describable",
           "marketing_copy", "template_variant"]

PROMPT = "marketing_copy"
MAX_VARIANTS = 5
ITEM_KEYS = ("item_id", "title", "brand", "category", "price", "description", "mean_rating",
             "review_count")
FALLBACK_NOTICE = "No generated variant passed the checks; the facts-only variant is shown."


@dataclass
class CopyResult:
    """Checked variants (each with its text, claims, sources and status), the evidence they
    may use and provenance. `status` is `ok` (every proposed part verified), `partial` (some
    dropped or repaired) or `fallback` (the facts-only template); `text` is every variant as
    shown."""

    item_id: str
    source: str
    target: str
    channel: str
    tone: str
    variants: list[dict[str, Any]]
    status: str
    run: ToolRun
    item: dict[str, Any] = field(default_factory=dict)
    audience: dict[str, Any] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    notice: str | None = None
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The variants exactly as shown: headline, then the body with numbered citations."""
        return "\n\n".join(f"{v['headline']}\n{v['text']}" for v in self.variants)

    @property
    def badge(self) -> str:
        """"n of m claims verified" over every claim the model proposed."""
        claims = [c for r in self.rejected for c in r.get("claims", [])]
        if self.status != "fallback":  # the template's claims are not the model's
            claims += [c for v in self.variants for c in v.get("claims", [])]
        shown = badge(sum(c["verified"] for c in claims), len(claims))
        return shown if self.status != "fallback" else f"facts only ({shown} by the model)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: status and text first, then the variants with their claims."""
        return {"status": self.status, "text": self.text, "badge": self.badge,
                "item_id": self.item_id, "source": self.source, "target": self.target,
                "channel": self.channel, "tone": self.tone, "variants": self.variants,
                "notice": self.notice, "item": self.item, "audience": self.audience,
                "rejected": self.rejected, "evidence": self.evidence, **self.run.to_dict()}

def _target(con: duckdb.DuckDBPyConnection, source: str, user_id: str | None,
            segment: int | None) -> tuple[str, dict[str, Any]]:
    if user_id is not None:
        src = source_of_user(con, user_id, source)
        if src != source:
            raise InputError(f"user {user_id!r} is in {src}, the item in {source}")
        return f"customer {user_id}", subject_facts(con, source, [user_id])
    if segment is None:
        raise InputError("give a target: a user id or a segment")
    if not table_exists(con, "user_scores"):
        raise InputError("no user scores yet, so no segments; run `insight score` first")
    users = [r[0] for r in con.execute("SELECT user_id FROM user_scores WHERE source = ? AND "
                                       "segment = ?", [source, segment]).fetchall()]
    if not users:
        raise InputError(f"unknown segment {segment} in source {source!r}")
    return (f"segment {segment} ({len(users)} users)",
            {"users": len(users), **subject_facts(con, source, users)})


def _item_source(con: duckdb.DuckDBPyConnection, item_id: str, source: str | None,
                 user_id: str | None) -> str:
    if source:
        return source
    if user_id is not None:
        sources = user_sources(con, user_id)
        if len(sources) == 1:
            return sources[0]
    rows = con.execute("SELECT DISTINCT source FROM items WHERE item_id = ? UNION SELECT "
                       "DISTINCT source FROM events WHERE item_id = ?", [item_id, item_id]
                       ).fetchall()
    if not rows:
        raise InputError(f"unknown item {item_id!r}")
    if len(rows) > 1:
        raise InputError(f"item {item_id!r} is in several sources; choose one with --source")
    return str(rows[0][0])


def copy_evidence(con: duckdb.DuckDBPyConnection, source: str, item: Any,
                  item_view: dict[str, Any], audience: dict[str, Any],
                  user_id: str | None, segment: int | None) -> EvidenceSet:
    """The facts copy claims may cite: the item's (`F:item_…`), the audience's, the item's
    reviews; the target's zero measures (a user's activity counts) and the catalogue names."""
    facts = {("item_id" if k == "item_id" else f"item_{k}"): v for k, v in item_view.items()}
    facts.update({("users_in_segment" if k == "users" else k): v for k, v in audience.items()})
    zero: frozenset[str] = frozenset()
    if user_id is not None:
        zero = zero_measures(user_facts(con, user_id, source, n_reviews=0, n_recent=0).facts)
    # the product's id is free to mention; its name cites F:item_title (CopyChecks.claim)
    context = {"item_id": item_view["item_id"], "source": source,
               **({"user_id": user_id} if user_id is not None else {"segment": segment})}
    return claim_evidence(facts, item.reviews, context=context, zero=zero,
                          names=catalog_names(con, source))


def cited(evidence: EvidenceSet, variants: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What each id cited by a claim of `variants` (shown or rejected) stands for."""
    return described_ids((e for v in variants for c in v.get("claims", []) for e in c["evidence"]),
                         evidence)


def _cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word boundary."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def template_variant(item: dict[str, Any], channel: str, evidence: EvidenceSet
                     ) -> dict[str, Any]:
    """The facts-only variant as claims, verified and rendered like any other (trailing claims
    dropped to fit the channel)."""
    headline, drafts = template_claims(item)
    verdicts = [v for v in verify_claims(drafts, evidence) if v.verified]
    limit = CHANNELS[channel]["body"]
    shown = render_claims(verdicts, evidence)
    while len(verdicts) > 1 and len(plain_text(shown.text)) > limit:
        verdicts = verdicts[:-1]
        shown = render_claims(verdicts, evidence)
    outcome = Outcome(_cut(headline, CHANNELS[channel]["headline"]), "", verdicts,
                      text=shown.text, sources=shown.sources, shown=verdicts)
    outcome.body = _cut(plain_text(shown.text), limit)
    return {**outcome.to_dict(), "status": "fallback"}


def marketing_copy(item_id: str, *, con: duckdb.DuckDBPyConnection, backend: LLMBackend,
                   user_id: str | None = None, segment: int | None = None,
                   source: str | None = None, channel: str = "email", tone: str = "friendly",
                   n_variants: int = 3,
                   on_chunk: Callable[[str], None] | None = None,
                   mask_pii: bool = True) -> CopyResult:
    """Copy variants for `item_id` built from verified claims, aimed at a user or a segment
    (personal data in review text masked unless `mask_pii` is off)."""
    if channel not in CHANNELS:
        raise InputError(f"unknown channel {channel!r}; choose {', '.join(CHANNELS)}")
    if not 1 <= n_variants <= MAX_VARIANTS:
        raise InputError(f"variants must be between 1 and {MAX_VARIANTS}")
    tone = re.sub(r"[^\w ,-]", "", tone)[:40] or "friendly"
    run = ToolRun(tool="marketing_copy", model=backend.model)
    with run.step("gather item and audience facts") as step:
        src = _item_source(con, item_id, source, user_id)
        item = item_facts(con, src, item_id, n_reviews=3, mask_pii=mask_pii)
        target, audience = _target(con, src, user_id, segment)
        item_view = {k: item.facts[k] for k in ITEM_KEYS if k in item.facts}
        if "mean_rating" in item_view:
            item_view["rating_scale"] = "1 to 5 stars"
        evidence = copy_evidence(con, src, item, item_view, audience, user_id, segment)
        step.detail = f"{len(item_view)} item facts, {len(audience)} audience facts"

    def result(variants: list[dict[str, Any]], status: str, rejected: list[dict[str, Any]],
               notice: str | None) -> CopyResult:
        if on_chunk is not None:
            for v in variants:
                on_chunk(f"{v['headline']}\n{v['body']}\n\n")
        return CopyResult(item_id=item_id, source=src, target=target, channel=channel,
                          tone=tone, variants=variants, status=status, run=run.finish(),
                          item=item_view, audience=audience, rejected=rejected, notice=notice,
                          evidence=cited(evidence, [*variants, *rejected]))

    if not describable(item_view, item.reviews):
        # Nothing true to say about the product (e.g. taobao: an id and a category number): a
        # generated message could only invent, so the facts-only template is the honest answer.
        return result([template_variant(item_view, channel, evidence)], "fallback", [],
                      f"item {item_id} has no title, brand, description, named category or "
                      "reviews in the data, so there is nothing to write about; a plain "
                      "template variant is shown")
    checks = CopyChecks(channel, evidence, json.dumps(item_view, default=str)
                        + json.dumps(audience, default=str),
                        {"item": item_view, "audience": audience})
    prompt = load_prompt(PROMPT)
    run.use_prompt(prompt.ref)
    item_lines = {("item_id" if k == "item_id" else f"item_{k}"): v for k, v in item_view.items()}
    values = {"channel": channel, "channel_rules": CHANNELS[channel]["rules"], "tone": tone,
              "item_facts": claim_fact_block(item_lines), "target": target,
              "target_facts": claim_fact_block({k: v for k, v in evidence.facts.items()
                                                if k not in item_lines}) or "(no facts)",
              "reviews": review_block(item.reviews, 200), "n": n_variants}
    messages = convert_to_messages(prompt.render(**values))
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for attempt in (1, 2):
        outcomes, conversation = draft_variants(backend, messages, run, checks, n_variants,
                                                attempt)
        if attempt == 1:  # one targeted repair per refused part, not one per attempt
            repair(outcomes, checks, backend, run, values, conversation)
        for outcome in outcomes:
            shown = assemble(outcome, checks)
            if shown and outcome.body not in {v["body"] for v in kept}:
                kept.append(outcome.to_dict())
            elif not shown:
                rejected.append({"headline": outcome.headline, "body": " ".join(
                    c.text for c in outcome.claims), "attempt": attempt,
                    "violations": variant_reasons(outcome),
                    "claims": [c.to_dict() for c in outcome.claims]})
        if kept:
            break
        messages = retry_messages(messages, retry_feedback(outcomes))
    if not kept:
        return result([template_variant(item_view, channel, evidence)], "fallback", rejected,
                      FALLBACK_NOTICE)
    kept = kept[:n_variants]
    clean = all(v["status"] == "ok" for v in kept) and not rejected
    return result(kept, "ok" if clean else "partial", rejected, None)
