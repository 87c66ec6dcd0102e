"""Periods and star ranges in an operator's words: "on 12/1", "in november", "last week",
"between 2017-11-25 and 2017-12-01", "1-2 stars", "4+ stars".

Dates without a year are anchored at the newest date of the data in scope (the `anchor`), so
"dec 1" in a 2017 log means 2017-12-01, not this year's December.
"""

from __future__ import annotations

import datetime as dt
import re

from assistant.grounding import MONTH_WORDS

ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
US_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])")
"""12/1 = December 1st (month first, as US operators write it); the year from the anchor."""


_NAMES = "|".join(sorted(MONTH_WORDS, key=len, reverse=True))
MONTH_YEAR = re.compile(rf"\b({_NAMES})\.?,?\s+(?:of\s+)?(?:(\d{{4}})\b|'(\d{{2}})\b)")
"""A month with its year: "march 2014", "mar 2014", "march '14"."""
BARE_YEAR = re.compile(r"(?<![\d/-])((?:19|20)\d{2})(?![\d/-])(?!\s*\+|\s+(users?|people|"
                       r"events?|times|items?|products?|reviews?|purchases?|orders?)\b)")
"""A year written alone ("top product 2013"), not a count ("2000 users")."""
SHORT_YEAR = re.compile(r"(?:^|(?<=[\s(]))'(\d{2})\b")
"""A year in two digits after an apostrophe ("reviews in '13")."""
FULL_DATE = re.compile(rf"\b({_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"
                       rf"|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_NAMES})\.?,?\s+(\d{{4}})\b"
                       r"|(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})\b")
"""A day with its year: "November 11, 2017", "11 nov 2017", "11/11/2017" (month first)."""
WEEK_OF = re.compile(r"\b(?:week|wk)\s+(of|starting|beginning|from|commencing)\s+"
                     r"(?:(?:mon|monday|sun|sunday),?\s+)?")
"""A week named by one of its days: "the week of nov 27" (its Monday-to-Sunday week), "the
week starting Monday, November 27" (seven days from that day)."""


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    start = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return start, nxt - dt.timedelta(days=1)


def _month_day(text: str, anchor: dt.date | None, bare: bool = False
               ) -> tuple[dt.date, dt.date] | None:
    """A month and day without a year ("dec 1", "1st december", "12/1") as that day, or a
    month ("in november"; with `bare`, "and nov?") as that month: in the anchor's year (the
    newest date of the data), or the year before when it would fall after the anchor."""
    names = "|".join(sorted(MONTH_WORDS, key=len, reverse=True))
    no_year = r"(?![\s,]*\d{4})"
    m = re.search(rf"\b({names})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b{no_year}", text)
    n = re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({names})\b{no_year}", text)
    lead = r"(?:(?:in|during|for|of)\s+)?" if bare else r"(?:in|during|for|of)\s+"
    whole = re.search(rf"\b{lead}({names})\b{no_year}", text)
    us = US_DATE.search(text)
    if us and 1 <= int(us.group(1)) <= 12:
        month, day = int(us.group(1)), int(us.group(2))
    elif m:
        month, day = MONTH_WORDS[m.group(1)], int(m.group(2))
    elif n:
        month, day = MONTH_WORDS[n.group(2)], int(n.group(1))
    elif whole:
        month, day = MONTH_WORDS[whole.group(1)], 0
    else:
        return None
    year = anchor.year if anchor is not None else dt.date.today().year
    if anchor is not None and (month, max(day, 1)) > (anchor.month, anchor.day):
        year -= 1
    if day == 0:
        return _month_range(year, month)
    try:
        found = dt.date(year, month, day)
    except ValueError:
        return None
    return found, found


HOLIDAYS = {r"singles'? ?day|double (11|eleven)": "nov 11", r"christmas eve": "dec 24",
            r"christmas( day)?|xmas": "dec 25", r"new year'?s eve": "dec 31",
            r"new year'?s( day)?": "jan 1", r"valentine'?s( day)?": "feb 14",
            r"hallowe'?en": "oct 31", r"double (12|twelve)": "dec 12"}
"""Days known by a name, read as that day ("orders on singles day" is November 11th)."""


def _named_days(text: str) -> tuple[str, str | None]:
    """The text with a named day written as its date, and the name found (None: none)."""
    for pattern, day in HOLIDAYS.items():
        m = re.search(rf"\b({pattern})\b", text)
        if m:
            return text[:m.start()] + day + text[m.end():], m.group(0)
    return text, None


def _full_date(text: str) -> dt.date | None:
    """The first day written with its year ("November 11, 2017"), else None."""
    m = FULL_DATE.search(text)
    if m is None:
        return None
    g = m.groups()
    if g[0]:
        month, day, year = MONTH_WORDS[g[0]], int(g[1]), int(g[2])
    elif g[3]:
        month, day, year = MONTH_WORDS[g[4]], int(g[3]), int(g[5])
    else:
        month, day, year = int(g[6]), int(g[7]), int(g[8])
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def find_dates(question: str, anchor: dt.date | None, bare: bool = False
               ) -> tuple[dt.date | None, dt.date | None, str | None]:
    """(date_from, date_to, phrase) for the period a question names, else Nones; `bare` also
    reads a month named alone ("and nov?", for follow-ups)."""
    text, holiday = _named_days(question.lower())
    if holiday is not None:
        first, last, _ = find_dates(text, anchor, bare)
        return first, last, holiday
    week = WEEK_OF.search(text)
    if week:
        day, last, _ = find_dates(text[week.end():], anchor)
        if day is not None and day == last:
            start = day - dt.timedelta(days=day.weekday()) if week.group(1) == "of" else day
            return start, start + dt.timedelta(days=6), "week of " + day.isoformat()
    full = _full_date(text)
    if full is not None:
        return full, full, "on date"
    iso = [dt.date(int(y), int(m), int(d)) for y, m, d in ISO_DATE.findall(text)]
    if len(iso) >= 2:
        return min(iso[:2]), max(iso[:2]), "between dates"
    if len(iso) == 1:
        return iso[0], iso[0], "on date"
    month = MONTH_YEAR.search(text)
    if month:
        year = int(month.group(2)) if month.group(2) else 2000 + int(month.group(3))
        start, end = _month_range(year, MONTH_WORDS[month.group(1)])
        return start, end, month.group(0)
    period = _month_day(text, anchor, bare)
    if period is not None:
        return period[0], period[1], "on date" if period[0] == period[1] else "in month"
    ym = re.search(r"\b(\d{4})-(\d{2})\b", text)
    if ym and 1 <= int(ym.group(2)) <= 12:
        start, end = _month_range(int(ym.group(1)), int(ym.group(2)))
        return start, end, ym.group(0)
    year = re.search(r"\b(?:in|during|for|of)\s+((?:19|20)\d{2})\b", text) or BARE_YEAR.search(text)
    if year:
        y = int(year.group(1))
        return dt.date(y, 1, 1), dt.date(y, 12, 31), year.group(0)
    short = SHORT_YEAR.search(text)
    if short:
        y = 2000 + int(short.group(1))
        return dt.date(y, 1, 1), dt.date(y, 12, 31), short.group(0).strip()
    if anchor is None:
        return None, None, None
    days = re.search(r"\b(?:last|past|previous)\s+(\d{1,3})\s+days?\b", text)
    if days:
        n = int(days.group(1))
        return anchor - dt.timedelta(days=n - 1), anchor, days.group(0)
    relative = [
        (r"\b(last|past|this) week\b", 7), (r"\b(last|past|this) month\b", 30),
        (r"\byesterday\b", -1), (r"\btoday\b", 0), (r"\b(last|past) (fortnight|two weeks)\b", 14),
    ]
    for pattern, span in relative:
        m = re.search(pattern, text)
        if not m:
            continue
        if span == -1:
            day = anchor - dt.timedelta(days=1)
            return day, day, m.group(0)
        if span == 0:
            return anchor, anchor, m.group(0)
        return anchor - dt.timedelta(days=span - 1), anchor, m.group(0)
    return None, None, None


_COUNTED = r"(purchases?|buys?|orders?|times|reviews?|events?|sessions?|carts?|views?)\b"
"""Words after "3+" that make it a count of something, not a star rating."""
_STARS = r"(?:[ -]?stars?|\*)"
_NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}


def find_rating_range(text: str) -> tuple[int | None, int | None]:
    """(min, max) star rating a question names: "1-star", "2 stars or less", "4+ stars",
    "between 3 and 5 stars"; (None, None) when it names none."""
    text = re.sub(r"\b(one|two|three|four|five)(?=[ -]?stars?\b)",
                  lambda m: _NUMBER_WORDS[m.group(1)], text)
    span = re.search(rf"\b([1-5])\s*(?:-|to|and|or|\s)\s*([1-5]){_STARS}", text)
    if span:
        low, high = sorted((int(span.group(1)), int(span.group(2))))
        return low, high
    at_most = re.search(rf"\b([1-5]){_STARS}\s*or (?:less|lower|below|fewer|under|worse)"
                        rf"|\b(?:at most|up to|max) ([1-5]){_STARS}", text)
    if at_most:
        return None, int(at_most.group(1) or at_most.group(2))
    at_least = re.search(rf"\b([1-5])(?:\+{_STARS}?(?!\s*{_COUNTED})|"
                         rf"{_STARS}\s*or (?:more|higher|above|better|"
                         rf"up))|\bat least ([1-5]){_STARS}", text)
    if at_least:
        return int(at_least.group(1) or at_least.group(2)), None
    exact = re.search(rf"\b([1-5]){_STARS}(?!\w)", text)
    if exact:
        return int(exact.group(1)), int(exact.group(1))
    return None, None


TWO_SIDES = re.compile(r"\b(vs\.?|versus|or|compared? (to|with)|against)\b|\bfrom\b.+\bto\b")
"""Words that set two named periods against each other ("dec 2 vs dec 3", "from 12/2 to
12/3"); "between A and B" is one range, not two periods."""


def _days_named(text: str, anchor: dt.date | None) -> list[tuple[int, dt.date]]:
    """(position, day) of every day the text names, with or without a year."""
    found = [(m.start(), dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
             for m in ISO_DATE.finditer(text)]
    shapes = [US_DATE, re.compile(rf"\b({_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b"),
              re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_NAMES})\b")]
    taken = [(m.start(), m.end()) for m in ISO_DATE.finditer(text)]
    for shape in shapes:
        for m in shape.finditer(text):
            if any(s <= m.start() < e for s, e in taken):
                continue
            period = _month_day(m.group(0), anchor)
            if period is not None and period[0] == period[1]:
                found.append((m.start(), period[0]))
                taken.append((m.start(), m.end()))
    return sorted(found)


def find_two_periods(question: str, anchor: dt.date | None
                     ) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]] | None:
    """(later period, earlier period) when the question sets two named days, months or years
    against each other ("were there more purchases on dec 2 or on dec 3?", "avg stars 2012 vs
    2013"), else None."""
    text = question.lower()
    if not TWO_SIDES.search(text) or re.search(r"\bbetween\b", text):
        return None
    days = sorted({day for _, day in _days_named(text, anchor)})
    if len(days) == 2:
        return (days[1], days[1]), (days[0], days[0])
    if days:
        return None
    spans = sorted({(first, last) for _, first, last in period_spans(question, anchor)})
    if len(spans) != 2 or spans[0][1] >= spans[1][0]:
        return None  # two years or two months ("2012 vs 2013"), not overlapping
    return spans[1], spans[0]


PERIOD_WORDS = re.compile(
    r"\d{4}|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|"
    r"\b(today|yesterday|tonight|weekend|since|until)\b|"
    r"\b(last|past|this|previous|next|first|second|third|final)\s+(\w+\s+)?"
    r"(day|days|week|weeks|month|months|quarter|year|years|hours?)\b",
    re.IGNORECASE)
"""A named period ("in 2016", "last 3 weeks", "since March"), not just a grouping word."""


def names_period(question: str) -> bool:
    """Whether the question mentions a period at all (else model dates are invented)."""
    return bool(PERIOD_WORDS.search(question))


def period_spans(question: str, anchor: dt.date | None) -> list[tuple[int, dt.date, dt.date]]:
    """(position, first day, last day) of every year and month the question names ("in 2013",
    "mar 2014", "november"), in text order; days are left out."""
    text = question.lower()
    spans: list[tuple[int, dt.date, dt.date]] = []
    taken: list[tuple[int, int]] = []
    for m in MONTH_YEAR.finditer(text):
        year = int(m.group(2)) if m.group(2) else 2000 + int(m.group(3))
        spans.append((m.start(), *_month_range(year, MONTH_WORDS[m.group(1)])))
        taken.append((m.start(), m.end()))
    for m in BARE_YEAR.finditer(text):
        if not any(s <= m.start() < e for s, e in taken):
            y = int(m.group(1))
            spans.append((m.start(), dt.date(y, 1, 1), dt.date(y, 12, 31)))
    for m in re.finditer(rf"\b({_NAMES})\b(?!\.?\s*\d)", text):
        if not any(s <= m.start() < e for s, e in taken):
            month = _month_day(m.group(0), anchor, bare=True)
            if month is not None:
                spans.append((m.start(), *month))
    return sorted(spans)
