"""Verified claims as prose with numbered citations, and the list of sources they point to.

Each claim becomes one sentence ending in its citation markers ("… 23 reviews [1]."); the
markers number the cited ids in order of first use, and `sources[n - 1]` says what `[n]` is
(a fact with its value, a review with its rating, date and item, an item with its title). No
raw tag syntax (`[F:key]`) reaches the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.claims.schema import TAG
from assistant.claims.verify import EvidenceSet, Verdict, content_words
from assistant.grounding import NUMBERED_CITATION

SNIPPET_CHARS = 300
DUPLICATE_OVERLAP = 0.6


@dataclass
class Rendered:
    """Prose with numbered citations, its sources, and the claims it is made of."""

    text: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    claims: list[Verdict] = field(default_factory=list)


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def source_entry(number: int, ident: str, ev: EvidenceSet) -> dict[str, Any]:
    """What citation `[number]` points to: kind, id, a readable label and the value or text."""
    kind, key = ident.split(":", 1)
    entry: dict[str, Any] = {"n": number, "id": ident}
    if kind == "F":
        entry.update(kind="fact", label=key.replace("_", " "), value=_value(ev.facts[key]))
    elif kind == "R":
        review = ev.reviews[key]
        stars = f", rated {review.rating:g}" if review.rating is not None else ""
        date = f", {review.date}" if review.date else ""
        item = review.title or review.item_id or "an item"
        entry.update(kind="review", review_id=key, item_id=review.item_id,
                     label=f"review of {item}{stars}{date}",
                     snippet=review.text[:SNIPPET_CHARS])
    else:
        entry.update(kind="item", item_id=key, label=f"item {key}",
                     value=ev.items.get(key) or key)
    return entry


def described_ids(ids: Iterable[str], ev: EvidenceSet) -> dict[str, dict[str, Any]]:
    """What each of `ids` that exists in `ev` stands for (a fact's value, a review's text), in
    order, once each: lets a reader, or a human judge, check refused claims as well as shown
    ones."""
    known = set(ev.ids())
    return {ident: {k: v for k, v in source_entry(0, ident, ev).items() if k != "n"}
            for ident in dict.fromkeys(ids) if ident in known}


def _sentence(text: str) -> str:
    """A claim's text as a sentence body: no tags or markers, capitalised, no final stop."""
    body = re.sub(r"\s{2,}", " ", TAG.sub("", NUMBERED_CITATION.sub("", text))).strip()
    body = body.rstrip(" .;,:")
    return body[:1].upper() + body[1:]


def dedupe(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Verified claims with near-repeats dropped (content-word overlap above
    `DUPLICATE_OVERLAP`; a retry often restates a claim of the first draft)."""
    kept: list[Verdict] = []
    seen: list[set[str]] = []
    for verdict in verdicts:
        words = content_words(verdict.text)
        if any(words and other and len(words & other) / len(words | other) > DUPLICATE_OVERLAP
               for other in seen):
            continue
        kept.append(verdict)
        seen.append(words)
    return kept


def render_claims(verdicts: Sequence[Verdict], ev: EvidenceSet) -> Rendered:
    """Verified claims as one paragraph with numbered citations, and the sources list."""
    numbers: dict[str, int] = {}
    sentences = []
    for verdict in verdicts:
        body = _sentence(verdict.text)
        if not body:
            continue
        marks = []
        for ident in verdict.evidence:
            numbers.setdefault(ident, len(numbers) + 1)
            marks.append(numbers[ident])
        cite = f" [{', '.join(str(n) for n in marks)}]" if marks else ""
        end = body[-1] if body[-1] in "!?" else "."
        sentences.append(f"{body.rstrip('!?')}{cite}{end}")
    sources = [source_entry(n, ident, ev) for ident, n in numbers.items()]
    return Rendered(" ".join(sentences), sources, list(verdicts))


def plain_text(text: str) -> str:
    """Rendered prose without its citation markers (copy as sent, a description as stored)."""
    return re.sub(r"\s+([.!?,;])", r"\1", NUMBERED_CITATION.sub("", text)).strip()


def badge(verified: int, proposed: int) -> str:
    """The line shown beside the prose: "n of m claims verified"."""
    return f"{verified} of {proposed} claims verified"
