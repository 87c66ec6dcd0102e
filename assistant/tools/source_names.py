"""How operators name sources and values in a question: full names, spaced forms, short forms
("rees", "MI", "tb"), and the ordinary words never read as a value.

Kept apart from :mod:`assistant.tools.resolve` (which reads the rest of a question) so both
the resolver and the "what did I not understand" report use one definition of a name.
"""

from __future__ import annotations

import re

_STOP_TEXT = """
the and all any are was were has have had how many much what which who when where why does did
total average mean rate rates revenue order orders value sales sale view views cart carts
purchase purchases bought buy buyers user users customer customers event events item items
product products review reviews rating ratings brand brands category categories source sources
day days week weeks month months year years last this previous most least top best worst per
each every other others new more less than compared versus before after between from with for
unknown none null other misc test peak peaked busiest active carters viewers reviewers shoppers
"""
STOP_VALUES = frozenset(_STOP_TEXT.split())
"""Words never taken as a category or brand value, even if some source has one by that name."""


def source_aliases(name: str) -> list[str]:
    """Ways a question may name a source: `gift_cards` → "gift_cards", "gift cards", "gift card"."""
    spaced = name.replace("_", " ")
    forms = {name.lower(), spaced.lower()}
    if spaced.endswith("s"):
        forms.add(spaced[:-1].lower())
    return sorted(forms, key=len, reverse=True)


def short_forms(name: str) -> set[str]:
    """How operators shorten a source name: its letters before the digits (`rees46` → "rees"),
    the initials of a name in parts (`musical_instruments` → "mi"), or the consonants of a
    one-word name (`taobao` → "tb"); only forms of 2+ letters that are not the name itself."""
    parts = [p for p in re.split(r"[_\W]+", name.lower()) if p]
    forms = {re.sub(r"\d+$", "", name.lower())}
    if len(parts) > 1:
        forms.add("".join(p[0] for p in parts))
    elif parts and parts[0].isalpha():
        forms.add(re.sub(r"[aeiou]", "", parts[0]))
    return {f for f in forms if len(f) >= 2 and f != name.lower() and f.isalpha()}


def _short_form_owners(names: list[str]) -> dict[str, str]:
    """Short form → source, for the forms exactly one source has (others are ambiguous)."""
    owners: dict[str, list[str]] = {}
    for name in names:
        for form in short_forms(name):
            owners.setdefault(form, []).append(name)
    taken = {alias for name in names for alias in source_aliases(name)}
    return {form: found[0] for form, found in owners.items()
            if len(found) == 1 and form not in taken and form not in STOP_VALUES}


def find_sources(question: str, names: list[str]) -> list[str]:
    """Source names mentioned in the question (a longer name hides its suffix: "all beauty");
    a short form ("rees", "MI", "tb") counts when no full name is mentioned."""
    text = question.lower()
    spans: list[tuple[int, int, str]] = []
    for name in sorted(names, key=len, reverse=True):
        for alias in source_aliases(name):
            for m in re.finditer(rf"(?<![\w-]){re.escape(alias)}(?![\w-])", text):
                if not any(s <= m.start() < e for s, e, _ in spans):
                    spans.append((m.start(), m.end(), name))
    if not spans:
        for form, name in _short_form_owners(names).items():
            for m in re.finditer(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text):
                spans.append((m.start(), m.end(), name))
    found: list[str] = []
    for _, _, name in sorted(spans):
        if name not in found:
            found.append(name)
    return found
