"""Copy variants built from verified claims, each part checked and repaired on its own.

The model proposes variants as a headline, body claims (text, evidence ids, kind) and a call to
action (`assistant.claims.copy`). A claim too long for the channel's body is first split into
its sentences, each citing the claim's evidence. Each claim is verified on its own
(`assistant.claims.verify`: ids of this request, numbers bound to the cited fact's measure,
names in the evidence, review overlap, nothing about what is zero) plus the copy guardrails
(`copy_rules.part_problems`, praise only where the cited description or review gives it, no more
than one content word the cited evidence does not hold, no longer than the channel's body); a
claim naming the product by a word of its title or brand cites that fact. The headline and call
to action, each shortened at a word boundary to its length, pass the guardrails, the
catalogue-name and zero checks. The refused parts of the variants that cannot be shown as they
are go back once, in one request that continues the conversation (so the server's prompt cache
keeps the facts already read), with their reasons and the ids that hold a refused word or number
(`assistant.claims.hints`, `prompts/copy_repair.md`): a replacement that passes takes its place,
a claim that still fails is dropped. A variant survives when its headline and call to action
pass and at least the channel's minimum of claims fit the body's length (claims in order, any
that would overflow skipped; the call to action left out when only so the minimum fits); its
body is the claims rendered as sentences, then the call to action.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from assistant.claims.copy import (
    CopyDraft,
    copy_schema,
    parse_copy,
    schema_format,
)
from assistant.claims.hints import repair_hints
from assistant.claims.render import badge, dedupe, plain_text, render_claims
from assistant.claims.schema import ClaimDraft, parse_answer
from assistant.claims.verify import (
    CAPITALISED,
    EvidenceSet,
    Verdict,
    check_names,
    check_zero,
    verify_claim,
)
from assistant.claims.wording import vacuous
from assistant.grounding import Violation
from assistant.llm.backends import LLMBackend
from assistant.tools.copy_rules import (
    CHANNELS,
    CTA_CHARS,
    claim_length_problems,
    fit_length,
    length_problems,
    part_problems,
    praise_problems,
    unsupported_words,
)
from assistant.tools.generation import generate, repair_turn
from assistant.tools.narrate import sentences
from assistant.tools.trace import ToolRun

log = logging.getLogger(__name__)

REPAIR_PROMPT = "copy_repair"
MAX_REPAIRS = 8
TOKENS_PER_PART = 60


@dataclass
class CopyChecks:
    """What every part of one request's copy is checked against."""

    channel: str
    evidence: EvidenceSet
    facts_text: str
    number_facts: Any

    def claim(self, draft: ClaimDraft) -> Verdict:
        """A body claim's verdict: the claim rules plus the copy guardrails (praise only
        where the cited description or review gives it; no content the cited evidence does
        not hold). A claim naming the product by its title or brand cites that fact."""
        named = [i for i in self.product_names(draft.text, self.cited_text(draft.evidence))
                 if i not in draft.evidence]
        draft = ClaimDraft(draft.text, [*draft.evidence, *named], draft.kind)
        cited = self.cited_text(draft.evidence)
        return verify_claim(draft, self.evidence, lambda text: part_problems(
            text, self.facts_text, self.number_facts) + vacuous(text)
            + praise_problems(text, cited) + claim_length_problems(text, self.channel)
            + unsupported_words(text, cited))

    def product_names(self, text: str, cited: str) -> list[str]:
        """`F:item_title` / `F:item_brand` where a capitalised word of `text` that the
        `cited` text lacks is a word of the product's title or brand: the name's source,
        cited so the reader sees it."""
        capitals = {m.group().lower() for m in CAPITALISED.finditer(text)
                    if m.group().lower() not in cited.lower()}
        return [f"F:{key}" for key in ("item_title", "item_brand")
                if capitals & set(re.findall(r"[\w&'’-]{3,}",
                                             str(self.evidence.facts.get(key) or "").lower()))]

    def cited_text(self, ids: Sequence[str]) -> str:
        """What the cited facts (their names and values) and reviews say (unknown ids say
        nothing)."""
        parts = []
        for ident in ids:
            kind, _, key = ident.partition(":")
            if kind == "F" and key in self.evidence.facts:
                parts.append(f"{key.replace('_', ' ')} {self.evidence.facts[key]}")
            elif kind == "R" and key in self.evidence.reviews:
                review = self.evidence.reviews[key]
                parts.append(f"{review.title or ''} {review.text}")
        return " ".join(parts)

    def phrase(self, part: str, text: str) -> list[str]:
        """The reasons a headline or call to action fails (empty: it passes)."""
        if part == "cta" and not text.strip():
            return []
        problems = part_problems(text, self.facts_text, self.number_facts)
        problems += length_problems(part, text, self.channel) + vacuous(text, 1)
        reasons = [p.message for p in problems]
        ids = self.evidence.ids()
        reasons += check_names(text.lower(), ids, self.evidence)  # catalogue names only
        reasons += check_zero(text, "suggestion", self.evidence)
        return list(dict.fromkeys(reasons))


@dataclass
class Outcome:
    """One variant after its checks: the parts kept, every claim's verdict, and the result."""

    headline: str
    cta: str
    claims: list[Verdict] = field(default_factory=list)
    headline_reasons: list[str] = field(default_factory=list)
    cta_reasons: list[str] = field(default_factory=list)
    repaired: bool = False
    text: str = ""
    body: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    shown: list[Verdict] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """Whether any proposed part was refused (then the variant is at best `partial`)."""
        return self.repaired or any(not c.verified for c in self.claims)

    def to_dict(self) -> dict[str, Any]:
        """The variant as returned: what is sent (headline, body), what is shown (text with
        numbered citations, sources, badge), its status and every claim's verdict."""
        verified = sum(c.verified for c in self.claims)
        return {"headline": self.headline, "body": self.body, "cta": self.cta,
                "status": "partial" if self.refused else "ok", "text": self.text,
                "badge": badge(verified, len(self.claims)),
                "claims": [c.to_dict() for c in self.claims], "sources": self.sources}


def split_long(claims: Sequence[ClaimDraft], channel: str) -> list[ClaimDraft]:
    """Claims too long for the channel's body split into their sentences, each citing the
    claim's evidence and verified on its own: a small model copies a whole description or
    review and does not shorten it when asked, while its first sentence often fits a banner."""
    limit = CHANNELS[channel]["body"]
    out: list[ClaimDraft] = []
    for claim in claims:
        parts = sentences(claim.text) if len(claim.text) > limit else []
        out += ([ClaimDraft(p, list(claim.evidence), claim.kind) for p in parts]
                if len(parts) > 1 else [claim])
    return out


def check_drafts(drafts: Sequence[CopyDraft], checks: CopyChecks) -> list[Outcome]:
    """Every part of every proposed variant checked on its own."""
    limit = CHANNELS[checks.channel]["headline"]
    outcomes = []
    for d in drafts:
        headline, cta = fit_length(d.headline, limit), fit_length(d.cta, CTA_CHARS)
        claims = [checks.claim(c) for c in split_long(d.claims, checks.channel)]
        outcomes.append(Outcome(headline, cta, claims, checks.phrase("headline", headline),
                                checks.phrase("cta", cta)))
    return outcomes


def _failed_parts(outcomes: list[Outcome], checks: CopyChecks
                  ) -> list[tuple[int, str, int, str, list[str]]]:
    """(variant, part, claim index, text, reasons) of every refused part of the variants that
    cannot be shown as they are (a variant whose verified claims already fill its body needs
    no repair, and the call is the slowest step), at most `MAX_REPAIRS`."""
    parts = []
    for v, o in enumerate(outcomes):
        if select(o, checks) is not None:
            continue
        if o.headline_reasons:
            parts.append((v, "headline", -1, o.headline, o.headline_reasons))
        if o.cta_reasons:
            parts.append((v, "cta", -1, o.cta, o.cta_reasons))
        parts += [(v, "claim", i, c.text, c.reasons) for i, c in enumerate(o.claims)
                  if not c.verified]
    return parts[:MAX_REPAIRS]


def repair(outcomes: list[Outcome], checks: CopyChecks, backend: LLMBackend, run: ToolRun,
           values: dict[str, Any], conversation: list[BaseMessage]) -> int:
    """Send every refused part back once with its reasons, as the next turn of
    `conversation` (the request and the model's answer); a replacement that passes takes the
    part's place. Returns how many parts were repaired."""
    parts = _failed_parts(outcomes, checks)
    if not parts:
        return 0
    listing = [f"{what} of variant {v + 1}: {text[:160]!r}; problems: {'; '.join(reasons)[:300]}"
               + repair_hints(text, reasons, checks.evidence,
                              outcomes[v].claims[i].evidence if what == "claim" else ())
               for v, what, i, text, reasons in parts]
    messages, extra_body = repair_turn(conversation, REPAIR_PROMPT, listing,
                                       checks.evidence.ids(), backend, run, **values)
    with run.step(f"repair {len(parts)} refused part(s)") as step:
        raw = generate(backend, messages, run, max_tokens=TOKENS_PER_PART * len(parts) + 40,
                       extra_body=extra_body)
        replacements = parse_answer(raw) if raw.lstrip().startswith(("{", "[")) else []
        fixed = 0
        for (v, what, _i, _, _), new in zip(parts, replacements, strict=False):
            outcome = outcomes[v]
            outcome.repaired = True
            if what == "claim":  # the replacement's verdicts are kept beside
                verdicts = [checks.claim(c) for c in split_long([new], checks.channel)]
                outcome.claims += verdicts
                fixed += any(v.verified for v in verdicts)
            else:
                reasons = checks.phrase(what, new.text)
                if not reasons:
                    setattr(outcome, what, new.text)
                    setattr(outcome, f"{what}_reasons", [])
                    fixed += 1
        step.detail = f"{fixed} of {len(parts)} parts repaired"
    return fixed


def _cta_sentence(cta: str) -> str:
    cta = cta.strip()
    return cta if not cta or cta[-1] in ".!?" else f"{cta}."


def select(outcome: Outcome, checks: CopyChecks) -> tuple[list[Verdict], str] | None:
    """The verified claims a variant shows (in order, skipping any that would overflow the
    channel's body) and its call-to-action sentence ("" when only without it the minimum of
    claims fits); None when the variant cannot be shown."""
    low, high = CHANNELS[checks.channel]["claims"]
    limit = CHANNELS[checks.channel]["body"]
    if outcome.headline_reasons or outcome.cta_reasons:
        return None
    verified = dedupe([c for c in outcome.claims if c.verified])
    for cta in dict.fromkeys((_cta_sentence(outcome.cta), "")):  # without it if only so fits
        kept: list[Verdict] = []
        for claim in verified:
            if len(kept) < high and _fits([*kept, claim], cta, limit, checks):
                kept.append(claim)
        if len(kept) >= low:
            return kept, cta
    return None


def assemble(outcome: Outcome, checks: CopyChecks) -> bool:
    """Render a variant's selected claims and its call to action (`select`); False when the
    variant cannot be shown."""
    picked = select(outcome, checks)
    if picked is None:
        return False
    kept, cta = picked
    if not cta:
        outcome.cta = ""
    shown = render_claims(kept, checks.evidence)
    outcome.text = f"{shown.text} {cta}".strip()
    outcome.body = f"{plain_text(shown.text)} {cta}".strip()
    outcome.sources, outcome.shown = shown.sources, kept
    return True


def _fits(claims: list[Verdict], cta: str, limit: int, checks: CopyChecks) -> bool:
    """Whether `claims` rendered as sentences, then `cta`, fit within `limit` characters."""
    shown = render_claims(claims, checks.evidence)
    return len(f"{plain_text(shown.text)} {cta}".strip()) <= limit


def variant_reasons(outcome: Outcome) -> list[str]:
    """Why a variant was not shown (for the rejected list)."""
    reasons = [f"headline: {r}" for r in outcome.headline_reasons]
    reasons += [f"call to action: {r}" for r in outcome.cta_reasons]
    reasons += [f"{c.text[:80]!r}: {r}" for c in outcome.claims if not c.verified
                for r in c.reasons]
    return reasons or ["too few verified claims fit the channel"]


def retry_feedback(outcomes: list[Outcome]) -> list[Violation]:
    """What an earlier draft got wrong, for a whole new request."""
    found = [Violation("claim", "", r) for o in outcomes for r in variant_reasons(o)][:6]
    return found or [Violation("claim", "", "no variants could be read from the answer; "
                               "answer with the JSON shape asked for")]


def draft_variants(backend: LLMBackend, messages: list[BaseMessage], run: ToolRun,
                   checks: CopyChecks, n_variants: int, attempt: int
                   ) -> tuple[list[Outcome], list[BaseMessage]]:
    """One request for variants, every part checked; also the conversation so far (the
    request and the model's answer), which a repair continues."""
    low, high = CHANNELS[checks.channel]["claims"]
    shape = schema_format(str(getattr(backend, "structured_mode", "")),
                          copy_schema(checks.evidence.ids(), n_variants, high, low))
    with run.step(f"write variants (attempt {attempt})") as step:
        raw = generate(backend, messages, run, on_chunk=lambda _: run.mark_first_token(),
                       max_tokens=TOKENS_PER_PART * (high + 2) * n_variants + 40,
                       extra_body={"response_format": shape} if shape else None)
        outcomes = check_drafts(parse_copy(raw), checks)
        claims = [c for o in outcomes for c in o.claims]
        step.detail = (f"{len(outcomes)} variants, {sum(c.verified for c in claims)} of "
                       f"{len(claims)} claims verified")
    return outcomes, [*messages, AIMessage(raw)]
