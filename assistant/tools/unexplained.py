"""Words of a question that nothing in the plan accounts for, said out loud in the answer.

A parser that does not know a word answers the rest of the question: "how many users used a
coupon" becomes "how many users", a confident figure for another question. This module lists
the words of the question that no part of the resolver recognises (no metric, grouping, period,
population, comparison or follow-up pattern mentions them; they are not a source, category,
brand or item of the data; they are not common English), so the answer can say "I could not
match 'coupon' to anything in this data" instead of staying silent about it.

The vocabulary is taken from the resolver's own patterns, so it grows with them: a word is
explained when some pattern spells it (or its stem, for patterns such as ``purchas\\w*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from assistant.grounding import MONTH_WORDS
from assistant.tools import follow_up, periods, population, readings, resolve
from assistant.tools.resolve import Hints, short_forms, source_aliases

_FILLER_TEXT = """
hey hi hello pls plz please thanks thx ty quick quickly question tell give show know need want
like just really actually exactly roughly approx approximately overall whole entire currently
current data dataset datasets number numbers figure figures stat stats count counts amount
total totals sum value values time times period periods today yesterday tomorrow ago date dates
weekday weekend weekdays hour hours minute minutes monday tuesday wednesday thursday friday
saturday sunday jan feb mar apr may jun jul aug sep sept oct nov dec did does got get gets
getting make made makes use used using happen happened overall ever far unique distinct
different diff store shop site platform log logs record records recorded list give smth
something stuff anything thing things wise written lower higher score midnight noon morning
evening night afternoon
"""
FILLER = frozenset(_FILLER_TEXT.split())
"""Conversational words and words about the data itself that never change what is asked."""

MIN_LENGTH = 4
"""Shorter tokens (ids, abbreviations such as "tb", "avg") are left to the resolver."""


def _pattern_texts() -> Iterable[str]:
    """Every regex source the resolver and its helpers read questions with (not the words of
    data no source has: those are what is unexplained)."""
    for module in (resolve, population, periods, follow_up):
        for value in vars(module).values():
            if value is resolve.UNSUPPORTED:
                continue
            if isinstance(value, str):
                yield value
            elif isinstance(value, re.Pattern):
                yield value.pattern
            elif isinstance(value, dict):
                yield from (str(k) for k in value)
                yield from (str(v) for v in value.values())
            elif isinstance(value, (list, tuple, frozenset, set)):
                for item in value:
                    if isinstance(item, str):
                        yield item
                    elif isinstance(item, tuple):
                        yield from (str(part) for part in item)
    yield from (reading.pattern for reading in readings.READINGS)


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[frozenset[str], tuple[str, ...]]:
    """(words the patterns spell, stems they match with a wildcard such as ``purchas\\w*``)."""
    words: set[str] = set()
    stems: set[str] = set()
    for text in _pattern_texts():
        plain = re.sub(r"\\[a-zA-Z]", " ", text.lower())  # \b, \w, \s are not letters
        for match in re.finditer(r"[a-z]+", plain):
            word = match.group(0)
            words.add(word)
            if plain[match.end():match.end() + 1] in ("*", "+", "?", "(", "[") and len(word) >= 4:
                stems.add(word)
    words |= set(MONTH_WORDS) | FILLER | set(ENGLISH_STOP_WORDS)
    return frozenset(words), tuple(sorted(stems))


def _explained(word: str, known: frozenset[str], stems: tuple[str, ...]) -> bool:
    forms = {word, word + "s", word.rstrip("s"), re.sub(r"(es|ed|ing|ly|'s)$", "", word)}
    if forms & known:
        return True
    return any(word.startswith(stem) for stem in stems)


def unexplained_words(question: str, hints: Hints, sources: Iterable[str]) -> list[str]:
    """The words of `question` (4+ letters, in order, once each) that neither the resolver's
    patterns, the data's names found in it, nor common English account for."""
    known, stems = _vocabulary()
    text = question.lower()
    names: set[str] = set()
    for source in sources:
        for form in (*source_aliases(source), *short_forms(source)):
            names.update(re.findall(r"[a-z]+", form))
    for value in (*hints.categories, *hints.brands, *hints.item_ids):
        names.update(re.findall(r"[a-z]+", str(value).lower()))
    if hints.date_phrase:
        names.update(re.findall(r"[a-z]+", hints.date_phrase.lower()))
    out: list[str] = []
    for word in re.findall(r"[a-z][a-z']*[a-z]", text):
        if len(word) < MIN_LENGTH or word in names or word in out:
            continue
        if not _explained(word, known, stems):
            out.append(word)
    return out


def unexplained_note(words: list[str]) -> list[str]:
    """The sentence an answer adds for unexplained words (none when there are none)."""
    if not words:
        return []
    quoted = ", ".join(f"'{w}'" for w in words[:3])
    noun = "word" if len(words) == 1 else "words"
    them = "it" if len(words) == 1 else "them"
    return [f"I could not match the {noun} {quoted} to anything in this data, so this figure "
            f"leaves {them} out and may not be what you asked."]
