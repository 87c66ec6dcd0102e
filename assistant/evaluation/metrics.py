"""Scoring helpers: does an answer contain the gold number / entity, are its citations valid,
how many sentences cite nothing, and latency percentiles."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from assistant.grounding import extract_citations, extract_numbers
from assistant.tools.narrate import sentences


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def number_matches(answer: str, gold: float) -> bool:
    """Whether any number in `answer` equals `gold` (or gold as a percentage) to the precision
    it is written with (e.g. "5.9%" matches 0.0594; "84,287" matches 84287)."""
    for text in extract_numbers(answer):
        value = float(text)
        tolerance = 0.5 * 10 ** -_decimals(text) + 1e-9
        for target in (gold, gold * 100):
            if math.isfinite(target) and abs(abs(value) - abs(target)) <= tolerance:
                return True
    return False


def entity_matches(answer: str, entity: str) -> bool:
    """Case-insensitive whole-token presence of the gold entity."""
    return re.search(rf"(?<![\w.-]){re.escape(entity.lower())}(?![\w-]|\.\w)",
                     answer.lower()) is not None


def citation_stats(text: str, valid: Mapping[str, set[str]]) -> tuple[int, int]:
    """(citations, valid citations) of a text against the independently computed id sets."""
    cited = extract_citations(text)
    return len(cited), sum(1 for kind, ident in cited if ident in valid.get(kind, set()))


def uncited_share(texts: Iterable[str]) -> tuple[int, int]:
    """(sentences without a citation, sentences) over texts."""
    total = uncited = 0
    for text in texts:
        for sentence in sentences(text):
            total += 1
            uncited += not extract_citations(sentence)
    return uncited, total


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), None for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return round(data[low] + (data[high] - data[low]) * (pos - low), 3)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator rounded, None when empty."""
    return round(numerator / denominator, 4) if denominator else None
