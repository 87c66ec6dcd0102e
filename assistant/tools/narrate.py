"""Grounded prose: generate, check with `check_answer`, retry once naming the problem, else
fall back to a deterministic facts-only text with a notice.

Every prose tool (summary, persona, explain, copy) goes through `narrate`, so the same rules
hold everywhere: numbers must be in the facts, citations must be ids this request allowed, and
at least one citation is required. An optional `extra_check` adds tool-specific rules (e.g.
promotional words in marketing copy).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages

from assistant.grounding import Violation, check_answer, extract_citations, strip_unsafe_markup
from assistant.llm.backends import LLMBackend
from assistant.tools.attribution import attribute
from assistant.tools.generation import generate
from assistant.tools.trace import ToolRun
from core.settings import LLMSettings

log = logging.getLogger(__name__)

ExtraCheck = Callable[[str], list[Violation]]
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
PROSE_MAX_TOKENS: int = LLMSettings.model_fields["prose_max_tokens"].default
"""The default cap on generated prose (the `llm.prose_max_tokens` setting's default); callers
pass the configured value down as `max_tokens` / `prose_max_tokens`."""
FALLBACK_NOTICE = ("The generated text did not pass the grounding checks twice, so only "
                   "facts taken directly from the data are shown.")


@dataclass
class Attempt:
    """One generated draft and what was wrong with it."""

    text: str
    violations: list[str] = field(default_factory=list)
    auto_citations: int = 0


@dataclass
class Narration:
    """The text shown, how it was obtained, and the drafts that led to it."""

    text: str
    status: Literal["ok", "retried", "fallback"]
    attempts: list[Attempt] = field(default_factory=list)
    notice: str | None = None
    auto_citations: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"text": self.text, "status": self.status, "notice": self.notice,
                "auto_citations": self.auto_citations,
                "attempts": [{"text": a.text, "violations": a.violations,
                              "auto_citations": a.auto_citations} for a in self.attempts]}

    def outcome(self, run: ToolRun) -> dict[str, Any]:
        """The `ProseResult` fields this narration decides (status, notice, drafts) and the
        finished trace of `run`."""
        return {"status": self.status, "notice": self.notice, "narration": self.to_dict(),
                "run": run.finish()}


@dataclass(kw_only=True)
class ProseResult:
    """What every prose tool (summary, persona, explain) returns beside its own fields: how
    the text was obtained, the trace, and the facts and reviews it rests on."""

    status: str
    run: ToolRun
    notice: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    narration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: the tool's own fields, then the shared ones, then the trace."""
        shared = [f.name for f in fields(ProseResult) if f.name != "run"]
        own = [f.name for f in fields(self) if f.name not in shared and f.name != "run"]
        return {**{name: getattr(self, name) for name in own + shared},
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


def narrate(backend: LLMBackend, messages: Sequence[Any], *, facts: Any,
            allowed: Mapping[str, set[str]], run: ToolRun, fallback: str,
            question: str = "", extra_check: ExtraCheck | None = None,
            on_chunk: Callable[[str], None] | None = None,
            require_citation: bool = True, cite_facts: Mapping[str, Any] | None = None,
            cite_reviews: Mapping[str, str] | None = None,
            max_tokens: int | None = None) -> Narration:
    """Generate prose that passes the grounding checks (see the module docstring).

    With `cite_facts` / `cite_reviews`, sentences the model left uncited get the citations of
    the evidence they match exactly (`attribution.attribute`) before the check. The text is
    capped at `max_tokens` (the caller passes `settings.llm.prose_max_tokens`; default
    `PROSE_MAX_TOKENS`).
    """
    limit = max_tokens or PROSE_MAX_TOKENS
    conversation = convert_to_messages(list(messages))
    attempts: list[Attempt] = []
    for attempt in (1, 2):
        with run.step(f"write text (attempt {attempt})") as step:
            def sink(chunk: str) -> None:
                run.mark_first_token()
                if on_chunk is not None:
                    on_chunk(chunk)

            raw = generate(backend, conversation, run, on_chunk=sink, max_tokens=limit)
            text = clean(raw)
            added = 0
            if cite_facts is not None or cite_reviews is not None:
                text, added = attribute(text, cite_facts or {}, cite_reviews or {})
            report = check_answer(text, facts, allowed, question=question,
                                  require_citation=require_citation)
            violations = list(report.violations) + (extra_check(text) if extra_check else [])
            if not text:
                violations.append(Violation("empty", "", "the answer was empty"))
            attempts.append(Attempt(text, [v.message for v in violations], added))
            if not violations:
                step.detail = (f"grounded ({report.citations_checked} citations, {added} "
                               "attached by code)")
                return Narration(text, "ok" if attempt == 1 else "retried", attempts,
                                 auto_citations=added)
            step.status = "fallback"
            step.detail = "; ".join(v.message for v in violations)[:300]
        log.info("grounding violations (attempt %d): %s", attempt, step.detail)
        conversation = retry_messages(conversation, violations)
    return Narration(fallback, "fallback", attempts, notice=FALLBACK_NOTICE)


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
