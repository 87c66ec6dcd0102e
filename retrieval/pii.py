"""Masking of personal data in review text, before it is indexed or put into any prompt.

`mask_pii(text, names)` replaces e-mail addresses, phone numbers, street addresses, payment
card numbers and the given reviewer names with `[email]`, `[phone]`, `[address]`, `[card]` and
`[name]`, and counts what it replaced. The patterns are tuned to leave ordinary review text
alone: model numbers ("SM58", "Model 2045"), prices, years, sizes and dates do not look like
any of these (a card number must pass the Luhn check and start like a real card; a phone number
needs the grouping or the keyword of one; an address needs a street word after a house number).
`benchmarks/pii_masking.py` measures both sides: planted identifiers and untouched reviews.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

PLACEHOLDERS = {"email": "[email]", "card": "[card]", "phone": "[phone]",
                "address": "[address]", "name": "[name]"}
"""Kinds of personal data, in the order they are masked, and what replaces each."""

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![\w-])")
_EMAIL_SPELLED = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][\w.+-]*\s*[\[({]\s*at\s*[\])}]\s*[\w-]+"
    r"(?:\s*(?:[\[({]\s*dot\s*[\])}]|\.)\s*[\w-]+)+"
    r"|(?<![\w.+-])[A-Za-z0-9][\w.+-]*\s+at\s+(?:gmail|yahoo|hotmail|outlook|aol|icloud|live|"
    r"msn|comcast|verizon|protonmail|gmx|mail)\s+dot\s+(?:com|net|org|co\s+dot\s+uk|de|fr)\b",
    re.IGNORECASE)
"""Addresses written to dodge scrapers: "jane [at] example [dot] com", "jo at gmail dot com"."""

_CARD = re.compile(r"(?<![\w.,-])\d(?:[ -]?\d){12,22}(?![\w-]|[.,]\d)")
"""A run of 13+ digits with single spaces or dashes; checked by `_card_digits`."""

_PHONE_KEYWORD = (r"(?:phone|tel|telephone|call(?:ed)?\s+(?:me|us|him|her)|text\s+(?:me|us)|"
                  r"cell|mobile|fax|whatsapp|sms|ring\s+(?:me|us))")
_PHONE_PATTERNS = [(re.compile(p), low, high) for p, low, high in (
    # international: +CC then groups ("+44 20 7946 0958", "+49 (0)30 1234 5678")
    (r"(?<![\w+])\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,8}(?:[\s.-]\d{2,8}){0,5}"
     r"(?![\w-])", 8, 15),
    (r"(?<![\w+])00\d{1,3}[\s.-]\d{1,5}(?:[\s.-]\d{2,8}){1,5}(?![\w-])", 9, 15),
    # North American: (212) 555-0198, 212-555-0198, 212.555.0198, 1-800-555-0199
    (r"(?<![\w+.-])(?:1[\s.-]?)?(?:\(\s*[2-9]\d{2}\s*\)\s*|[2-9]\d{2}[\s.-])[2-9]\d{2}"
     r"[\s.-]\d{4}(?![\w-]|[.,]\d)", 10, 11),
    # UK national: 020 7946 0958, 07700 900123, (0161) 496 0000, 0800 123 4567
    (r"(?<![\w+.-])(?:\(0\d{2,4}\)|0(?:[1-3]\d{1,4}|7\d{3}|8\d{2,3}))[\s-]?\d{3,4}[\s-]?"
     r"\d{3,4}(?![\w-]|[.,]\d)", 10, 11),
)]
"""Phone shapes, each with the number of digits it must have."""
_PHONE_CONTEXT = re.compile(
    rf"(?i:\b{_PHONE_KEYWORD}\b)(?:[^\d\n]{{0,25}}?)(?<![\w+])(\+?\d[\d\s().-]{{5,18}}\d)(?!\w)")
"""Any 7-15 digit number shortly after a phone word ("call me at 5550199", "tel 5550 1234")."""

_SUFFIX = (r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|"
           r"Place|Pl|Terrace|Ter|Way|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|"
           r"Trl|Crescent|Cres|Close|Grove|Gardens|Mews)")
_UNIT = r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|#)\.?\s*#?\s*[A-Za-z0-9-]{1,6})"
_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"
_CITY = r"[A-Z][a-z][A-Za-z.'-]*(?:\s+[A-Z][a-z][A-Za-z.'-]*){0,2}"
_PLACE = (rf"(?:,\s*{_CITY}(?:,?\s+[A-Z]{{2}}\b)?(?:,?\s+(?:\d{{5}}(?:-\d{{4}})?|{_POSTCODE}))?"
          rf"|,?\s+{_CITY},?\s+(?:[A-Z]{{2}}|[A-Z][a-z]+)\s+\d{{5}}(?:-\d{{4}})?)")
"""The town after a street: ", Springfield", ", London NW1 6XE", " Austin, TX 78701"."""
_EU_PLACE = r"(?:,?\s*(?:\d{4,5}\s+)?[A-Z][a-zäöüßéèêàâîôûç-]+\b)"
"""An address tail in Europe: ", 10115 Berlin", ", Paris"."""
_ADDRESS_PATTERNS = [re.compile(p) for p in (
    # 1600 Pennsylvania Avenue NW, Washington, DC 20500 · 221B Baker Street, London NW1 6XE
    rf"(?<![\w.,-])\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?,?\s+(?:(?:[NSEW]\.?|North|South|East|West)"
    rf"\s+)?(?:(?:[A-Z][A-Za-z'.-]*|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,4}}"
    rf"(?i:{_SUFFIX})\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W|North|South|East|West)\b\.?)?{_UNIT}?{_PLACE}?",
    r"(?i:\bP\.?\s?O\.?\s*Box\s+\d{1,6}\b)",
    # 1428 elm street: lower case only before the long street words
    r"(?<![\w.,-])\d{1,6}\s+(?:[a-z]{3,}\s+){1,3}(?:street|avenue|boulevard)\b",
    # Hauptstraße 12, 10115 Berlin · Rue de Rivoli 99 · Calle Mayor 5 · 12 rue de Rivoli, Paris
    rf"\b[A-Z][a-zäöüß]+(?:straße|strasse|weg|platz|gasse|allee)\s+\d{{1,4}}[a-z]?\b{_EU_PLACE}?",
    rf"\b(?:Rue|Calle|Avenida|Rua|Viale|Corso|Piazza|Carrer)\s+(?:[A-Za-z'’]+\s+)"
    rf"{{1,4}}?\d{{1,4}}[a-z]?\b{_EU_PLACE}?",
    r"(?<![\w.,-])\d{1,4},?\s+(?:rue|avenue|boulevard|chemin|allée)\s+"
    rf"(?:(?:de|du|des|la|le|del|di)\s+)*[A-Z][\w'-]+{_EU_PLACE}?",
)]

_STOP_TEXT = """
a about after all also am an and any are as at be been but by can could did do does for from
had has have he her here him his how i if in into is it its just me more my no not now of off
on one only or our out over own so some than that the their them then there these they this
to too up us very was we were what when where which who why will with would you your yes new
best good great nice happy love lover lovers fan fans customer customers client buyer buyers
shopper consumer user reader readers reviewer reviews review verified purchaser amazon kindle
prime guest anonymous someone somebody anyone person people guy guys girl girls man men woman
lady mom mommy mother dad daddy father mama papa grandma grandpa granny wife husband family
friend friends kid kids music musician player guitar guitarist drummer bass singer studio
mr mrs ms miss dr prof sir jr sr email phone address card name
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Words of a display name that are no name ("Amazon Customer", "Happy Guitar Guy")."""

_NAME_SPLIT = re.compile(r",|\s+-\s+|\s+(?:of|from|aka|and|&|in|at)\s+", re.IGNORECASE)
_NICKNAME = re.compile(r"\"([^\"]+)\"|\(([^)]+)\)")
_TOKEN = re.compile(r"[^\W\d_][\w'’.-]*", re.UNICODE)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (what every payment card number satisfies)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_network_ok(digits: str) -> bool:
    """Whether the number starts and is as long as a Visa, Mastercard, Amex, Discover, Diners,
    JCB, UnionPay or Maestro card number."""
    n, two, three, four = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if two in (34, 37):
        return n == 15
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (36, 38, 39) or 300 <= three <= 305:
        return 14 <= n <= 19
    if 3528 <= four <= 3589 or four == 6011 or two in (62, 65) or 644 <= three <= 649:
        return 16 <= n <= 19
    return two == 50 or 56 <= two <= 69  # Maestro


def _card_digits(candidate: str) -> int:
    """Length of the longest leading group run of `candidate` that is a card number, or 0."""
    groups = re.split(r"([ -])", candidate)
    for end in range(len(groups), 0, -2):
        digits = "".join(groups[:end:2])
        if 13 <= len(digits) <= 19 and card_network_ok(digits) and luhn_ok(digits):
            return len("".join(groups[:end]))
    return 0


def _sub_cards(text: str, counts: dict[str, int]) -> str:
    def replace(match: re.Match[str]) -> str:
        keep = _card_digits(match.group())
        if not keep:
            return match.group()
        counts["card"] += 1
        return PLACEHOLDERS["card"] + match.group()[keep:]

    return _CARD.sub(replace, text)


def _digit_count(number: str) -> int:
    return sum(c.isdigit() for c in number)


def _sub_phones(text: str, counts: dict[str, int]) -> str:
    for pattern, low, high in _PHONE_PATTERNS:
        def replace(match: re.Match[str], low: int = low, high: int = high) -> str:
            if not low <= _digit_count(match.group()) <= high:
                return match.group()
            counts["phone"] += 1
            return PLACEHOLDERS["phone"]

        text = pattern.sub(replace, text)

    def in_context(match: re.Match[str]) -> str:
        number = match.group(1)
        if not 7 <= _digit_count(number) <= 15:
            return match.group()
        counts["phone"] += 1
        start = match.start(1) - match.start()
        return match.group()[:start] + PLACEHOLDERS["phone"]

    return _PHONE_CONTEXT.sub(in_context, text)


def _plain_word(token: str) -> bool:
    """A name token that could also be an ordinary word: matched only as a capitalised name."""
    return not (re.search(r"[\d_]", token) or re.search(r"[a-z][A-Z]", token))


def _display_parts(raw: str) -> tuple[list[str], list[str]]:
    """A display name's name pieces (whole, and split at "of"/"from"/"and"/commas) and its
    nicknames (in quotes or brackets); a cut-off quote ends the name."""
    nicknames = [a or b for a, b in _NICKNAME.findall(raw)]
    main = re.split(r"[\"(]", _NICKNAME.sub(" ", raw))[0]
    return [main, *_NAME_SPLIT.split(main)], nicknames


def _tidy(piece: str) -> str:
    return re.sub(r"\s+", " ", piece.strip(" .,'\"-")).strip()


def _words(piece: str) -> list[str]:
    return [t.strip(".'’-") for t in _TOKEN.findall(piece)]


def _is_name(piece: str) -> bool:
    return any(len(w) >= 3 and w.lower() not in STOP_WORDS for w in _words(piece))


def _name_pieces(raw_names: Iterable[str | None]) -> list[tuple[str, bool]]:
    """(piece, is a nickname) for every maskable piece of the display names."""
    out: list[tuple[str, bool]] = []
    for raw in raw_names:
        if not raw or not raw.strip():
            continue
        pieces, nicknames = _display_parts(raw)
        for piece, nick in [*((p, False) for p in pieces), *((n, True) for n in nicknames)]:
            piece = _tidy(piece)
            if piece and _is_name(piece) and piece not in (p for p, _ in out):
                out.append((piece, nick))
    return out


def reviewer_names(raw_names: Iterable[str | None]) -> list[str]:
    """The maskable names in display names: the name, its pieces split at "of"/"from"/"and"/
    commas, and nicknames in quotes; placeholder names ("Amazon Customer") and pieces of stop
    words only are dropped."""
    return [piece for piece, _ in _name_pieces(raw_names)]


_NAME_END = r"(?![\w\]])(?!['’]t\b)"
"""After a name: no more letters, and no "'t" ("Don't" is no "Don")."""
_TITLE = r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+|\b[A-Z]\.\s*"
"""What makes a bare surname a name: a title or an initial ("Mr. Chen", "J. Smith")."""


def _name_regex(name: str, nickname: bool = False) -> re.Pattern[str]:
    """A whole display name: any case and spacing ("Robert C Ross" ~ "ROBERT C. ROSS") when it
    has several words or is no ordinary word; else (and for nicknames, often phrases: "LIGHT
    WEIGHT") as written or capitalised."""
    tokens = [t.rstrip(".") for t in name.split()]
    if not _plain_word(name) or (len(tokens) > 1 and not nickname):
        body = r"\.?\s*".join(re.escape(t) for t in tokens)
        initial = r"\.?" if len(tokens[-1]) == 1 else ""  # "Kasia S." ends with its period
        return re.compile(rf"(?<![\w@\[])(?:{body}){initial}{_NAME_END}", re.IGNORECASE)
    forms = {name, name[:1].upper() + name[1:]}
    body = "|".join(r"\s+".join(re.escape(t) for t in f.split())
                    for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w@\[])(?:{body}){_NAME_END}")


def _person_words(piece: str) -> list[str] | None:
    """The words of a name that reads as a person's ("Sarah Johnson", "Kasia S.", "F. L.
    Hall"): 2-4 capitalised words, none a stop word ("Fender Guy", "Seas the Day" are not)."""
    words = [w for w in _words(_tidy(piece)) if w]
    if not 2 <= len(words) <= 4 or any(w.lower() in STOP_WORDS for w in words):
        return None
    return words if all(w[:1].isupper() for w in words) else None


def _part_regexes(raw_names: Iterable[str]) -> list[tuple[re.Pattern[str], str]]:
    """A person's first name on its own (as written, capitalised), and the surname after a
    title or an initial; never from nicknames, often plain words ("Jazz Drummer"). With the
    replacement of each (the title or initial stays)."""
    first: set[str] = set()
    last: set[str] = set()
    for raw in raw_names:
        for piece in _display_parts(raw)[0]:
            words = _person_words(piece)
            if words is None:
                continue
            if len(words[0]) >= 3:
                first.add(words[0])
            if len(words[-1]) >= 3:
                last.add(words[-1])
    patterns = []
    if first:
        body = "|".join(re.escape(f) for f in sorted(first, key=len, reverse=True))
        patterns.append((re.compile(rf"(?<![\w@\[])(?:{body}){_NAME_END}"), PLACEHOLDERS["name"]))
    if last:
        body = "|".join(re.escape(f) for f in sorted(last, key=len, reverse=True))
        patterns.append((re.compile(rf"(?P<title>{_TITLE})(?:{body}){_NAME_END}"),
                         r"\g<title>" + PLACEHOLDERS["name"]))
    return patterns


def _sub_names(text: str, raw_names: Sequence[str], counts: dict[str, int]) -> str:
    pieces = sorted(_name_pieces(raw_names), key=lambda p: len(p[0]), reverse=True)
    steps = [(_name_regex(n, nick), PLACEHOLDERS["name"]) for n, nick in pieces]
    for pattern, replacement in [*steps, *_part_regexes(raw_names)]:
        text, n = pattern.subn(replacement, text)
        counts["name"] += n
    return text


def _sub(pattern: re.Pattern[str], kind: str) -> Callable[[str, dict[str, int]], str]:
    def apply(text: str, counts: dict[str, int]) -> str:
        text, n = pattern.subn(PLACEHOLDERS[kind], text)
        counts[kind] += n
        return text

    return apply


_STEPS: list[Callable[[str, dict[str, int]], str]] = [
    _sub(_EMAIL, "email"), _sub(_EMAIL_SPELLED, "email"), _sub_cards, _sub_phones,
    *[_sub(p, "address") for p in _ADDRESS_PATTERNS],
]


def mask_pii(text: str | None, names: Iterable[str | None] = ()) -> tuple[str, dict[str, int]]:
    """`text` with personal data replaced by placeholders, and how many of each kind.

    `names` are reviewer display names to hide as well (the review's own and, if known, other
    names of the same user); counts has every kind of `PLACEHOLDERS`, zero when none was found.
    """
    counts = dict.fromkeys(PLACEHOLDERS, 0)
    if not text:
        return text or "", counts
    for step in _STEPS:
        text = step(text, counts)
    wanted = [n for n in names if n]
    if wanted:
        text = _sub_names(text, wanted, counts)
    return text, counts


def mask_text(text: str | None, names: Iterable[str | None] = (),
              enabled: bool = True) -> str | None:
    """`text` masked (None stays None); unchanged when masking is switched off."""
    if not enabled or text is None:
        return text
    return mask_pii(text, names)[0]


__all__ = ["PLACEHOLDERS", "card_network_ok", "luhn_ok", "mask_pii", "mask_text",
           "reviewer_names"]
