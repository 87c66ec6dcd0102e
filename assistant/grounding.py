"""Grounding checks in code: numbers must come from tool results, citations must exist.

The LLM writes prose; these checks decide whether that prose may be shown. A number in an
answer passes when the same value, in any usual formatting (rounding, thousands separators,
percent of a rate), appears in the tool result or in the user's question. A citation passes
when its id is in the set the tool allowed for this user / item / segment.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_CITATION = re.compile(r"\[(R|I|F|U|S):([^\]\s]{1,80})\]")
MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
"""English month name (lower case) → month number; the one month table of the assistant."""
MONTH_WORDS = {**MONTHS, **{name[:3]: i for name, i in MONTHS.items()}, "sept": 9}
"""Month names and their abbreviations ("jan", "sept") → month number."""
_MONTH = r"(?P<month>" + "|".join(sorted(MONTH_WORDS, key=len, reverse=True)) + r")\.?"
_WRITTEN_DATES = [re.compile(p, re.IGNORECASE) for p in (
    rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})\b",
    rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\s+(?P<year>\d{{4}})\b",
    rf"\b{_MONTH}\s+(?:of\s+)?(?P<year>\d{{4}})\b",
    rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b",
    rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b")]
_ISO_DATE = re.compile(r"(?<![\w-])(?<!\d\.)(?:\d{4}-\d{2}(?:-\d{2})?|--\d{2}-\d{2})(?!\w|[.-]\d)")
CITATION_KINDS = {"R": "review", "I": "item", "F": "fact", "U": "user", "S": "segment"}
NUMBERED_CITATION = re.compile(r"\[\d{1,2}(?:,\s*\d{1,2})*\]")
"""A rendered citation marker ("[1]", "[2, 3]"): a pointer to the list of sources, no number
of the text."""
NUMBER_PATTERN = _NUMBER
"""A number as written in prose (thousands separators and decimals allowed)."""
ISO_DATE_PATTERN = _ISO_DATE
"""An ISO date (YYYY-MM-DD, YYYY-MM, --MM-DD) as `iso_dates` writes dates."""


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


def canonical_number(value: float) -> str:
    """The one written form a value is compared in ("12.5", "3", "0")."""
    return _canonical(value)


def _canonical(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def number_forms(value: float, whole: bool = False) -> set[str]:
    """Every way a value may legitimately be written: rounded, as an int, and, for a rate, as
    a percentage ("0.374" as "37.4%", a cart-to-purchase rate of 1.16 as "116.4%"). A count —
    `whole` (an int, digits without a decimal point) or a float with no fraction above 1 — has
    no percent form: 5 reviews are never "500 reviews"."""
    forms: set[str] = set()
    if math.isnan(value) or math.isinf(value):
        return forms
    share = not whole and (abs(value) <= 1.0 or value != int(value))
    for scale in (1.0, 100.0) if share else (1.0,):
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


def _split_dates(text: str) -> tuple[list[str], str]:
    """ISO dates in `text` (YYYY-MM-DD, YYYY-MM, --MM-DD) and the text without them."""
    dates = [m.group() for m in _ISO_DATE.finditer(text)]
    return dates, _ISO_DATE.sub(" ", text)


def date_forms(date: str) -> set[str]:
    """The `date:` and year forms under which a fact's date supports a text (`_date_forms`)."""
    return _date_forms(date)


def _date_forms(date: str) -> set[str]:
    """How a fact's date may be written: in full, as its month, without the year; and its year
    as a plain number ("since 2012"). Its month and day are no plain numbers: "24" in an answer
    is not supported by a date 2014-03-24."""
    year, month, day = (date.split("-") + [""])[:3]
    forms = {f"date:{year}-{month}", *number_forms(float(year))}
    if day:
        forms |= {f"date:{date}", f"date:--{month}-{day}"}
    return forms


def allowed_numbers(*sources: Any) -> set[str]:
    """All number forms found anywhere in tool results (values, keys and text); dates give
    `date:` forms (see `_date_forms`)."""
    allowed: set[str] = set()
    for source in sources:
        for leaf in _walk(source):
            if isinstance(leaf, bool) or leaf is None:
                continue
            if isinstance(leaf, int | float):
                allowed |= number_forms(float(leaf), whole=isinstance(leaf, int))
            elif isinstance(leaf, dt.date | dt.datetime):
                allowed |= _date_forms(leaf.isoformat()[:10])
            elif isinstance(leaf, str):
                dates, rest = _split_dates(leaf)
                for date in dates:
                    allowed |= _date_forms(date)
                for match in _NUMBER.finditer(rest):
                    written = match.group().replace(",", "")
                    allowed |= number_forms(float(written), whole="." not in written)
    return allowed


def iso_dates(text: str) -> str:
    """Written dates ("December 4, 2017", "4 Dec 2017", "December 2017", "March 24") as ISO
    dates (2017-12-04, 2017-12, --03-24), so they are checked like the dates of the facts."""
    def iso(match: re.Match[str]) -> str:
        parts = match.groupdict()
        month = MONTH_WORDS[parts["month"].lower()]
        day = f"-{int(parts['day']):02d}" if parts.get("day") else ""
        return f"{parts.get('year') or '-'}-{month:02d}{day}"

    for pattern in _WRITTEN_DATES:
        text = pattern.sub(iso, text)
    return text


def extract_numbers(text: str) -> list[str]:
    """Numbers written in `text`, normalised (no thousands separators), citations (tags and
    numbered markers such as "[2]") excluded."""
    without_citations = NUMBERED_CITATION.sub(" ", _CITATION.sub(" ", text))
    return [m.group().replace(",", "").lstrip("+") for m in _NUMBER.finditer(without_citations)]


def check_numbers(answer: str, *facts: Any) -> list[Violation]:
    """Numbers and dates in `answer` that appear in none of `facts` (after formatting)."""
    allowed = allowed_numbers(*facts)
    dates, rest = _split_dates(iso_dates(NUMBERED_CITATION.sub(" ", _CITATION.sub(" ", answer))))
    violations = [Violation("number", date, f"the date {date} is not in the data; remove it "
                            "or use a date from the facts")
                  for date in dates if f"date:{date}" not in allowed]
    for number in extract_numbers(rest):
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
                                        "e.g. [F:purchases] or [R:…] with the id of a review"))
    return GroundingReport(violations=violations,
                           numbers_checked=len(extract_numbers(answer)),
                           citations_checked=len(citations))


PERSONAL = re.compile(
    r"\b(years? old|aged|male|female|man|woman|men|women|gender|income|salary|married|"
    r"mother|father|parent|student|retired|lives in|living in|ethnic\w*|religio\w*)\b",
    re.IGNORECASE)


def _quotes_evidence(text: str, match: re.Match[str], evidence: str) -> bool:
    """True when the word is part of a phrase shown as a fact (a title such as "Men's Health"):
    the match with the word after it, or the word before it, occurs in `evidence`."""
    start, end = match.span()
    after = re.match(r"[\w'’]*[\s-]+[\w'’]+", text[end:])
    before = re.search(r"[\w'’]+[\s-]+$", text[:start])
    phrases = ([text[start:end + after.end()]] if after else []) + (
        [text[start - len(before.group(0)):end]] if before else [])
    return any(phrase.lower() in evidence for phrase in phrases)


def sensitive_mentions(text: str, pattern: re.Pattern[str] = PERSONAL,
                       evidence: str = "") -> list[str]:
    """Words of `pattern` in `text`, except those quoting a phrase of `evidence` (item titles,
    category names: a magazine called "Men's Health" says nothing about the customer)."""
    shown = evidence.lower()
    return [m.group(0) for m in pattern.finditer(text)
            if not (shown and _quotes_evidence(text, m, shown))]


def check_personal(text: str, evidence: str = "") -> list[Violation]:
    """Personal attributes (age, gender, income, family, location…) that the behaviour data
    never records, so any mention of them is invented (unless it quotes `evidence`)."""
    return [Violation("claim", word, f"do not mention '{word}': the data has no personal "
                      "attributes") for word in sensitive_mentions(text, evidence=evidence)]


def personal_check(shown: Any) -> Callable[[str], list[Violation]]:
    """`check_personal` with the facts the model was `shown` (JSON-dumped) as evidence."""
    evidence = json.dumps(shown, default=str, ensure_ascii=False)
    return lambda text: check_personal(text, evidence)


_MD_IMAGE = re.compile(r"!\[[^\]\n]{0,200}\]\([^)\n]{0,500}\)")
_MD_LINK = re.compile(r"\[([^\]\n]{0,200})\]\([^)\n]{0,500}\)")
_MD_REFERENCE = re.compile(r"^[ \t]*\[[^\]\n]{1,100}\]:[ \t]*\S+.*$", re.MULTILINE)
_URL = re.compile(r"(?i)\b(?:(?:https?|ftp|file)://|www\.)[^\s<>()\[\]]*"
                  r"|\b(?:javascript|vbscript|data):(?=\S)\S*")


def _link_text(match: re.Match[str]) -> str:
    """A Markdown link's text, kept in brackets when it is a citation (`[R:id](url)`)."""
    text = match.group(1)
    return f"[{text}]" if _CITATION.fullmatch(f"[{text}]") else text


def strip_unsafe_markup(text: str) -> str:
    """LLM output made inert before display: HTML tags (also as `‹…›`, the form prompts show
    review markup in), Markdown images, link targets (`[text](url)` keeps its text), URLs,
    `javascript:` / `data:` pseudo-URLs and control characters removed. Generated text has no
    use for links or markup; any was copied from untrusted text (a review) and would be
    rendered as a link or a tracking image, or pasted into a campaign."""
    text = re.sub(r"<[^>]{0,200}>|‹[^›]{0,200}›", "", text)
    text = _MD_LINK.sub(_link_text, _MD_IMAGE.sub("", text))
    text = _URL.sub("", _MD_REFERENCE.sub("", text))
    return "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
