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

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from assistant.grounding import MONTH_WORDS
from assistant.tools import follow_up, measures, periods, population, readings, resolve
from assistant.tools.resolve import Hints
from assistant.tools.source_names import short_forms, source_aliases
from assistant.tools.unsupported import UNSUPPORTED

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
evening night afternoon gave give given giving receive received receives recieved
recieve post posted posts posting wrote write writes percentage percentages
"""
FILLER = frozenset(_FILLER_TEXT.split())
"""Conversational words and words about the data itself that never change what is asked."""

MIN_LENGTH = 4
"""Shorter tokens (ids, abbreviations such as "tb", "avg") are left to the resolver."""
TYPO_MIN_LENGTH = 5
TYPO_CUTOFF = 0.85
"""A word of 5+ letters this close (difflib ratio) to one word of the vocabulary is a typo."""
SUBJECT_CUE = (r"(a|an|the|which|by|with|w/|via|from|using|use|used|uses|per|to|of|their|"
               r"any|paid)")
"""Words before a noun: an unknown word right after one names a thing ("used a coupon", "paid
by card", "from the mobile app"), which no figure here can stand for. Not "what", which
mostly starts a verb ("what went on")."""


def _pattern_texts() -> Iterable[str]:
    """Every regex source the resolver and its helpers read questions with (not the words of
    data no source has: those are what is unexplained)."""
    for module in (resolve, population, periods, follow_up, measures):
        for value in vars(module).values():
            if value is UNSUPPORTED:
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
        plain = plain.replace("'?", "")  # "didn'?t" spells "didnt" too
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
    names = _names_of(sources)
    for value in (*hints.categories, *hints.brands, *hints.item_ids):
        names.update(re.findall(r"[a-z]+", str(value).lower()))
    if hints.date_phrase:
        names.update(re.findall(r"[a-z]+", hints.date_phrase.lower()))
    out: list[str] = []
    for word in re.findall(r"[a-z][a-z']*[a-z]", text):
        if len(word) < MIN_LENGTH or word in names or word.rstrip("s") in names or word in out:
            continue
        if not _explained(word, known, stems):
            out.append(word)
    return out


def _names_of(sources: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for source in sources:
        for form in (*source_aliases(source), *short_forms(source)):
            names.update(re.findall(r"[a-z]+", form))
    return names


def spelled(question: str, sources: Iterable[str]) -> tuple[str, dict[str, str]]:
    """The question with typos of the vocabulary's words fixed ("how many customers actualy
    purchsed" → "… actually purchased"), and what was fixed (typo → word)."""
    known, stems = _vocabulary()
    names = _names_of(sources)
    candidates = sorted(w for w in known if len(w) >= TYPO_MIN_LENGTH)
    fixed: dict[str, str] = {}
    for word in set(re.findall(r"[a-z]+", question.lower())):
        if (len(word) < TYPO_MIN_LENGTH or word in names or _explained(word, known, stems)
                or any(re.search(p, word) for p in UNSUPPORTED)):
            continue  # a word of data no source has is refused as written, never "fixed"
        match = difflib.get_close_matches(word, candidates, n=1, cutoff=TYPO_CUTOFF)
        if match and word not in match[0]:  # "search" is not a typo of "research"
            fixed[word] = match[0]
    text = question
    for typo, word in fixed.items():
        text = re.sub(rf"\b{typo}\b", word, text, flags=re.IGNORECASE)
    return text, fixed


def unmatched_subject(question: str, words: list[str]) -> str | None:
    """What a refusal says when an unexplained word names a thing ("anything called
    'coupon'"), else None: a figure that leaves the thing out answers another question."""
    text = question.lower()
    named = [w for w in words if re.search(rf"(^|[\s,]){SUBJECT_CUE}\s+{re.escape(w)}\b", text)]
    if not named:
        return None
    return "anything called " + " or ".join(f"'{w}'" for w in named[:2])


def typo_note(fixed: dict[str, str]) -> list[str]:
    """ "I read 'purchsed' as 'purchased'." for each typo fixed."""
    return [f"I read '{typo}' as '{word}'." for typo, word in sorted(fixed.items())]


def unexplained_note(words: list[str]) -> list[str]:
    """The sentence an answer adds for unexplained words (none when there are none)."""
    if not words:
        return []
    quoted = ", ".join(f"'{w}'" for w in words[:3])
    noun = "word" if len(words) == 1 else "words"
    them = "it" if len(words) == 1 else "them"
    return [f"I could not match the {noun} {quoted} to anything in this data, so this figure "
            f"leaves {them} out and may not be what you asked."]
