"""Grounding checks in code: numbers must come from tool results, citations must exist.

The LLM writes prose; these checks decide whether that prose may be shown. A number in an
answer passes when the same value, in any usual formatting (rounding, thousands separators,
percent of a rate), appears in the tool result or in the user's question. A citation passes
when its id is in the set the tool allowed for this user / item / segment.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_CITATION = re.compile(r"\[(R|I|F|U|S):([^\]\s]{1,80})\]")
CITATION_KINDS = {"R": "review", "I": "item", "F": "fact", "U": "user", "S": "segment"}


@dataclass
class Violation:
    """One grounding failure, phrased so it can be fed back to the LLM."""

    kind: str  # "number" | "citation"
    value: str
    message: str


@dataclass
class GroundingReport:
    """All violations of one answer; empty means the answer is grounded."""

    violations: list[Violation] = field(default_factory=list)
    numbers_checked: int = 0
    citations_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing was violated."""
        return not self.violations

    def feedback(self) -> str:
        """A short instruction listing what to fix, for the single retry."""
        return "; ".join(v.message for v in self.violations)


def _canonical(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def number_forms(value: float) -> set[str]:
    """Every way a value may legitimately be written: rounded, as a percentage, as an int."""
    forms: set[str] = set()
    if math.isnan(value) or math.isinf(value):
        return forms
    for scale in (1.0, 100.0):
        scaled = value * scale
        for digits in range(0, 5):
            forms.add(_canonical(round(scaled, digits)))
            # truncation as well as rounding: "0.3746" written as "37.4%"
            factor = 10**digits
            forms.add(_canonical(math.floor(abs(scaled) * factor) / factor
                                 * (1 if scaled >= 0 else -1)))
        if scale == 1.0 and abs(value) >= 1:
            forms.add(_canonical(float(round(value))))
    return forms


def _walk(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _walk(key)
            yield from _walk(inner)
    elif isinstance(value, list | tuple | set):
        for inner in value:
            yield from _walk(inner)
    else:
        yield value


def allowed_numbers(*sources: Any) -> set[str]:
    """All number forms found anywhere in tool results (values, keys and text)."""
    allowed: set[str] = set()
    for source in sources:
        for leaf in _walk(source):
            if isinstance(leaf, bool) or leaf is None:
                continue
            if isinstance(leaf, int | float):
                allowed |= number_forms(float(leaf))
            elif isinstance(leaf, dt.date | dt.datetime):
                allowed |= {str(int(x)) for x in re.findall(r"\d+", leaf.isoformat())}
                allowed |= {_canonical(float(x)) for x in re.findall(r"\d+", leaf.isoformat())}
            elif isinstance(leaf, str):
                for match in _NUMBER.finditer(leaf):
                    allowed |= number_forms(float(match.group().replace(",", "")))
    return allowed


def extract_numbers(text: str) -> list[str]:
    """Numbers written in `text`, normalised (no thousands separators), citations excluded."""
    without_citations = _CITATION.sub(" ", text)
    return [m.group().replace(",", "").lstrip("+") for m in _NUMBER.finditer(without_citations)]


def check_numbers(answer: str, *facts: Any) -> list[Violation]:
    """Numbers in `answer` that appear in none of `facts` (after formatting)."""
    allowed = allowed_numbers(*facts)
    violations = []
    for number in extract_numbers(answer):
        if _canonical(float(number)) not in allowed:
            violations.append(Violation("number", number,
                                        f"the number {number} is not in the data; remove it or "
                                        "use a number from the facts"))
    return violations


def extract_citations(text: str) -> list[tuple[str, str]]:
    """(kind letter, id) pairs cited as [R:id], [I:id], [F:key], [U:id], [S:id]."""
    return [(m.group(1), m.group(2)) for m in _CITATION.finditer(text)]


def check_citations(answer: str, allowed: Mapping[str, set[str]]) -> list[Violation]:
    """Citations whose id is not among the allowed ids of that kind."""
    violations = []
    for kind, ident in extract_citations(answer):
        if ident not in allowed.get(kind, set()):
            violations.append(Violation("citation", f"{kind}:{ident}",
                                        f"[{kind}:{ident}] is not a {CITATION_KINDS[kind]} "
                                        "of this request; cite only the ids given"))
    return violations


def check_answer(
    answer: str,
    facts: Any,
    allowed_citations: Mapping[str, set[str]] | None = None,
    question: str = "",
    require_citation: bool = False,
) -> GroundingReport:
    """Run every check on one answer."""
    violations = check_numbers(answer, facts, question)
    citations = extract_citations(answer)
    if allowed_citations is not None:
        violations += check_citations(answer, allowed_citations)
        if require_citation and not citations:
            violations.append(Violation("citation", "", "cite the facts or reviews you use, "
                                        "e.g. [F:purchases] or [R:<review id>]"))
    return GroundingReport(violations=violations,
                           numbers_checked=len(extract_numbers(answer)),
                           citations_checked=len(citations))


def strip_unsafe_markup(text: str) -> str:
    """Remove HTML tags and control characters from LLM output before display."""
    text = re.sub(r"<[^>]{0,200}>", "", text)
    return "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
