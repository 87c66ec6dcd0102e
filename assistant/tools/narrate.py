"""Grounded prose from verified claims: the model proposes claims as structured output, code
verifies each one (`assistant.claims.verify`), the verified ones are rendered as prose with
numbered citations (`assistant.claims.render`).

Every prose tool (summary, persona, explain) goes through `narrate`, so the same rules hold
everywhere. Unverified claims are dropped, not the whole answer. Only when fewer than
`min_claims` survive is the model asked once more: each refused claim is sent back with its
problems as the next turn of the conversation (`repair_messages`; a draft without readable claims
gets the request again, naming what was wrong); the verified claims of both drafts are pooled,
and if still too few the facts-only template (itself a list of claims, verified and rendered
the same way) is shown with a notice. An optional
`extra_check` adds tool-specific rules (e.g. no personal attributes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages

from assistant.claims.hints import repair_hints
from assistant.claims.render import (
    Rendered,
    badge,
    dedupe,
    described_ids,
    render_claims,
)
from assistant.claims.schema import ClaimDraft, parse_answer, response_format
from assistant.claims.verify import (
    EvidenceSet,
    Verdict,
    verify_claims,
)
from assistant.grounding import (
    Violation,
    extract_citations,
    strip_unsafe_markup,
)
from assistant.llm.backends import LLMBackend
from assistant.tools.generation import generate, repair_turn
from assistant.tools.trace import ToolRun
from core.settings import LLMSettings

log = logging.getLogger(__name__)

ExtraCheck = Callable[[str], list[Violation]]
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
PROSE_MAX_TOKENS: int = LLMSettings.model_fields["prose_max_tokens"].default
"""The default cap on generated prose (the `llm.prose_max_tokens` setting's default); callers
pass the configured value down as `max_tokens` / `prose_max_tokens`."""
MAX_SHOWN = 6
MAX_REPAIRS = 4
REPAIR_PROMPT = "claims_repair"
FALLBACK_NOTICE = ("Too few of the generated claims could be verified against the data, so "
                   "only facts taken directly from the data are shown.")
Status = Literal["ok", "partial", "fallback"]


@dataclass
class Attempt:
    """One generated draft (the raw answer) and the verdict on each of its claims."""

    text: str
    claims: list[Verdict] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        """The reasons of the refused claims, each prefixed with the claim it concerns."""
        return [f"{c.text[:80]!r}: {reason}" for c in self.claims if not c.verified
                for reason in c.reasons] or ([] if self.claims else
                                             ["no claims could be read from the answer"])


@dataclass
class Narration:
    """The text shown, how it was obtained, its claims and sources, and the drafts."""

    text: str
    status: Status
    claims: list[Verdict] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    notice: str | None = None
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def proposed(self) -> int:
        """Claims the model proposed, over all attempts."""
        return sum(len(a.claims) for a in self.attempts)

    @property
    def verified(self) -> int:
        """Claims of the model that passed verification, over all attempts."""
        return sum(c.verified for a in self.attempts for c in a.claims)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"text": self.text, "status": self.status, "notice": self.notice,
                "claims_proposed": self.proposed, "claims_verified": self.verified,
                "evidence": self.evidence,
                "attempts": [{"text": a.text, "violations": a.violations,
                              "claims": [c.to_dict() for c in a.claims]}
                             for a in self.attempts]}

    def outcome(self, run: ToolRun) -> dict[str, Any]:
        """The `ProseResult` fields this narration decides and the finished trace of `run`."""
        shown = [c.to_dict() for c in self.claims]
        return {"status": self.status, "notice": self.notice, "text": self.text,
                "claims": shown, "sources": self.sources,
                "badge": (badge(self.verified, self.proposed) if self.status != "fallback"
                          else f"facts only ({badge(self.verified, self.proposed)} by the "
                               "model)"),
                "narration": self.to_dict(), "run": run.finish()}


@dataclass(kw_only=True)
class ProseResult:
    """What every prose tool (summary, persona, explain) returns beside its own fields: the
    prose exactly as shown (`text`, numbered citations into `sources`), its status (`ok`: every
    proposed claim verified, `partial`: some dropped, `fallback`: the facts-only template), the
    claims shown with their verdicts, a badge, the trace, and the facts and reviews it rests
    on."""

    status: str
    run: ToolRun
    text: str = ""
    badge: str = ""
    notice: str | None = None
    claims: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    narration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: status and text first, the tool's own fields, then the shared
        ones, then the trace."""
        shared = [f.name for f in fields(ProseResult) if f.name not in ("run", "status", "text")]
        own = [f.name for f in fields(self) if f.name not in shared
               and f.name not in ("run", "status", "text")]
        return {"status": self.status, "text": self.text,
                **{name: getattr(self, name) for name in own + shared},
                **self.run.to_dict()}


def sentences(text: str) -> list[str]:
    """Split prose into sentences (for the per-sentence citation statistics)."""
    return [s.strip() for s in SENTENCE.split(text.strip()) if s.strip()]


def uncited_sentences(text: str) -> list[str]:
    """Sentences that cite nothing."""
    return [s for s in sentences(text) if not extract_citations(s)]


GROUPED_CITATION = re.compile(r"\[\s*([RIFUS]\s*:[^\[\]]*?[,;][^\[\]]*?)\]")


def split_citations(text: str) -> str:
    """`[F:a, F:b]` / `[F:a; b]` → `[F:a] [F:b]`; `[F: a]` → `[F:a]` (small models do this)."""
    def split(match: re.Match[str]) -> str:
        kind = match.group(1).split(":", 1)[0].strip()
        out = []
        for part in re.split(r"[,;]", match.group(1)):
            part = part.strip()
            if ":" not in part:
                part = f"{kind}:{part}"
            k, ident = part.split(":", 1)
            out.append(f"[{k.strip()}:{ident.strip()}]")
        return " ".join(out)

    text = GROUPED_CITATION.sub(split, text)
    return re.sub(r"\[\s*([RIFUS])\s*:\s*([^\]\s]{1,80})\s*\]", r"[\1:\2]", text)


def complete_sentences(text: str) -> str:
    """`text` without a trailing unfinished sentence (the token limit cut it off)."""
    text = text.rstrip()
    if not text or re.search(r"[.!?\]\"')]$", text):
        return text
    ends = [m.end() for m in re.finditer(r"[.!?](?:\s*\[[^\[\]]{1,90}\])*(?=\s|$)", text)]
    return text[: ends[-1]].rstrip() if ends else text


def clean(text: str) -> str:
    """Model output made displayable: markup and control characters removed, one paragraph,
    an unfinished last sentence dropped."""
    text = split_citations(strip_unsafe_markup(text))
    text = re.sub(r"^\s*(summary|briefing|answer|persona|explanation)\s*:\s*", "", text,
                  flags=re.IGNORECASE)
    return complete_sentences(re.sub(r"\s+", " ", text).strip())


def _request(backend: LLMBackend, evidence: EvidenceSet, limit: int) -> dict[str, Any]:
    """Per-call arguments: the token cap, and the claims schema as `response_format` (sent in
    `extra_body`, so the answer streams like any other)."""
    shape = response_format(str(getattr(backend, "structured_mode", "")), evidence.ids())
    return {"max_tokens": limit, "extra_body": {"response_format": shape} if shape else None}


def _verified(attempts: list[Attempt]) -> list[Verdict]:
    return dedupe([c for a in attempts for c in a.claims if c.verified])[:MAX_SHOWN]


def narrate(backend: LLMBackend, messages: Sequence[Any], *, evidence: EvidenceSet,
            run: ToolRun, fallback: list[ClaimDraft], min_claims: int = 2,
            extra_check: ExtraCheck | None = None,
            on_chunk: Callable[[str], None] | None = None,
            max_tokens: int | None = None) -> Narration:
    """Claims from the model, verified one by one and rendered (see the module docstring).

    `fallback` is the facts-only template as claims; `on_chunk` receives the verified text
    once it is known (raw drafts are never shown). The answer is capped at `max_tokens` (the
    caller passes `settings.llm.prose_max_tokens`; default `PROSE_MAX_TOKENS`).
    """
    limit = max_tokens or PROSE_MAX_TOKENS
    conversation = convert_to_messages(list(messages))
    request = _request(backend, evidence, limit)
    attempts: list[Attempt] = []
    for attempt in (1, 2):
        with run.step(f"write claims (attempt {attempt})") as step:
            raw = generate(backend, conversation, run, on_chunk=lambda _: run.mark_first_token(),
                           **request)
            verdicts = verify_claims(parse_answer(raw), evidence, extra_check)
            attempts.append(Attempt(strip_unsafe_markup(raw), verdicts))
            kept = _verified(attempts)
            step.detail = (f"{sum(v.verified for v in verdicts)} of {len(verdicts)} claims "
                           f"verified; {len(kept)} kept")
            if len(kept) >= min_claims:
                break
            step.status = "fallback"
        log.info("too few verified claims (attempt %d): %s", attempt,
                 "; ".join(attempts[-1].violations)[:300])
        refused = [c for c in verdicts if not c.verified][:MAX_REPAIRS]
        if refused:
            conversation, request = repair_messages(conversation, raw, refused, evidence,
                                                    backend, run, limit)
        else:
            conversation = retry_messages(conversation, [
                Violation("claim", "", v) for v in attempts[-1].violations[:6]]
                + [Violation("claim", "", f"give at least {min_claims} claims that cite the "
                                          "ids given")])
    if len(kept) >= min_claims:
        refused = any(not c.verified for a in attempts for c in a.claims)
        shown: Rendered = render_claims(kept, evidence)
        status: Status = "partial" if refused else "ok"
        notice = None
    else:
        template = [v for v in verify_claims(fallback, evidence) if v.verified]
        if len(template) < len(fallback):
            log.warning("%d facts-only claims failed verification",
                        len(fallback) - len(template))
        shown, status, notice = render_claims(template, evidence), "fallback", FALLBACK_NOTICE
    if on_chunk is not None:
        on_chunk(shown.text)
    return Narration(shown.text, status, shown.claims, shown.sources, attempts, notice,
                     cited_evidence(attempts, evidence))


def cited_evidence(attempts: list[Attempt], evidence: EvidenceSet) -> dict[str, dict[str, Any]]:
    """What each existing id cited by any proposed claim stands for (`described_ids`)."""
    return described_ids((e for a in attempts for c in a.claims for e in c.evidence), evidence)


def repair_messages(conversation: list[BaseMessage], raw: str, refused: list[Verdict],
                    evidence: EvidenceSet, backend: LLMBackend, run: ToolRun, limit: int
                    ) -> tuple[list[BaseMessage], dict[str, Any]]:
    """The conversation continued by the model's draft and a turn listing each refused claim
    with its problems (`prompts/claims_repair.md`), and the request asking for exactly that
    many replacements: naming the claim beside its problem works where restating the rules
    did not (a greedy model repeats its draft)."""
    parts = [f"{c.text[:160]!r}; problems: {'; '.join(c.reasons)[:300]}"
             f"{repair_hints(c.text, c.reasons, evidence, c.evidence)}" for c in refused]
    messages, extra_body = repair_turn([*conversation, AIMessage(raw)], REPAIR_PROMPT, parts,
                                       evidence.ids(), backend, run)
    return messages, {"max_tokens": limit, "extra_body": extra_body}


def retry_messages(conversation: list[BaseMessage], violations: list[Violation]
                   ) -> list[BaseMessage]:
    """The request again, with what the draft got wrong stated just before its last line.

    The rejected draft itself is not sent back (small models tend to repeat a text they are
    shown), and the unchanged prefix stays in the server's prompt cache, so a retry costs only
    the added line and the new text. The feedback quotes the draft, which may quote a review:
    its angle brackets are neutralised like review text, so it can open or close no tag.
    """
    feedback = "; ".join(dict.fromkeys(v.message for v in violations))
    feedback = feedback.replace("<", "‹").replace(">", "›")
    head, sep, tail = conversation[-1].text.rpartition("\n")
    note = f"Avoid these mistakes of an earlier draft: {feedback}."
    text = f"{head}\n{note}\n{tail}" if sep else f"{note}\n{tail}"
    return [*conversation[:-1], HumanMessage(text)]
