"""Wording rules of the claim verifier (`assistant.claims.verify`) that read the sentence
itself rather than the evidence: counts written as words, the rating scale after "out of",
magnitude words and superlatives that need a comparison pointing the same way, judgments of a
score, what a figure is of (overall figures narrowed to some items, ratings given called
received, activity dates read as purchases, reviewed items read as liked, events as use, a
model rank as a rank among all items), a rounded-up "over N" stated exactly, the count a cited
mean is over, and a trailing inference of the model.

Kept apart so the verifier's evidence rules stay readable; each function is used by one rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from assistant.grounding import Violation, canonical_number

UNMEASURED = re.compile(r"(?i)\b(?:(?:high|large|great|huge|low|small)\s+(?:number|count|"
                        r"amount)|many|popular(?:ity)?|few|(?:good|high|great|excellent|strong|"
                        r"low|poor|weak)\s+(?:mean\s+|average\s+)?ratings?|(?:highly|well|"
                        r"poorly)[- ]rated)\b")
"""Magnitude words that need a comparison (a rank, a share, a percentile) to be true of a
bare count or mean rating."""
LOW_WORDS = re.compile(r"(?i)\b(?:low|small|few|poor|poorly|weak)\b")
COMPARISON_FACTS = ("rank", "share", "percentile", "top")
MAGNITUDE_FACTS = ("rank", "share", "percentile")
"""What may back "many" or "highly rated": a top list says what comes first, not how much."""
HIGH_PERCENTILE, LOW_PERCENTILE = 75.0, 25.0
"""A cited percentile supports "many" / "highly rated" from 75 up, "few" / "low" to 25."""
SUPERLATIVE = re.compile(r"(?i)\b(?:most\s+(?:highly\s+)?\w+|highest[- ]\w+|best[- ]\w+|"
                         r"top[- ]rated)\b")
"""A superlative ranks something among others: true only with a cited rank or top list."""
RATED_SUPERLATIVE = re.compile(r"(?i)\b(?:most\s+highly|highest|best|top)[- ]rated\b")
"""Ranked by rating: a top list by frequency (a top category) does not support it."""
JUDGED_SCORE = re.compile(r"(?i)\b(?:high|higher|low|lower|good|strong|significant|large|great|"
                          r"impressive|solid)\s+(?:model\s+)?(?:score|share|rank)\b")
"""A model score or share called high or good: there is no baseline to judge it by."""
APPROXIMATE = re.compile(r"(?i)\b(?:over|more\s+than|above|under|less\s+than|fewer\s+than|below|"
                         r"nearly|almost|upwards\s+of)\s+\d")
"""A cited figure is exact: "over 52 reviews" says more than the fact (52) does."""
OVERALL_FACTS = ("F:mean_rating_given", "F:ratings_given", "F:reviews_written")
NARROWED = re.compile(r"(?i)\b(?:for|of|on|to)\s+(?:(?:the|this|that|a|each)\s+(?:[\w-]+\s+){0,3}?"
                      r"(?:item|product|magazine|card|subscription|instrument|gift)\b(?!s)|"
                      r"(?:the|these|those|their)\s+top\b)")
"""A customer's (or segment's) overall figure said of some items only."""
ACTIVITY_DATES = ("F:first_activity", "F:last_activity")
PURCHASE_OR_USE = re.compile(r"(?i)\b(?:purchas\w*|bought|buy\w*|order\w*|started\s+using|"
                             r"stopped\s+using|began\s+using|joined|signed\s+up|became\s+a)\b")
"""What an activity date is not: the first or last event of any kind, not a purchase."""
REVIEW_LISTS = ("F:top_reviewed_items",)
LIKING = re.compile(r"(?i)\b(?:likes?|loves?|enjoys?|interested|(?:an?|strong|keen|great|"
                    r"high|shown|shows)\s+interest|fan\s+of|prefers?|shops?\s+for|"
                    r"favou?rites?|has\s+read|reads)\b")
"""What a list of reviewed items does not say: a review can be of anything they disliked."""
RANK_SCOPE = re.compile(r"(?i)\b(?:among|of|out\s+of)\s+all\b|\boverall\b")
"""A model rank is within this customer's top items, not among all items."""
EVENT_FACTS = ("F:events", "F:user_events_on_item", "F:user_events_in_category",
               "F:user_events_with_brand")
USE = re.compile(r"(?i)\b(?:used|uses|using|set\s+up|sets\s+up|installed|owns?|owned|"
                 r"played|plays|read|reads)\b")
"""What an event is not: a view, cart or review is not use or ownership."""
RECEIVED = re.compile(r"(?i)\b(?:received|receives|got|earned|(?:was|were)\s+given)\b")
"""Ratings a customer or segment gave are not ratings they received."""
OUT_OF = re.compile(r"(?i)\bout\s+of\s*$")
OUT_OF_SCALE = re.compile(r"(?i)\s*(?:stars?\s+)?out\s+of\s+5(?:\.0)?\b")
"""After a number: "4.8 out of 5" makes the number a rating."""
PERCENT = re.compile(r"\s*(?:%|percent\b)")
COMPANIONS = {"F:mean_rating_given": "F:ratings_given", "F:item_mean_rating": "F:item_review_count"}
"""A mean and the count it is over: a mean is stated with its count ("4.6 stars over 17
reviews"), so citing the mean covers its count."""
AVERAGING = frozenset({"average", "averages", "averaging", "averaged", "mean"})
ACROSS = re.compile(r"(?i)(?:\d|\bstars?|\bratings?)\s*$")
"""Before "over": "4.8 over 19 ratings", "5 stars over 11 reviews" mean across, not more than."""
SPELLED = {"two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
           "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12"}
SPELLED_COUNT = re.compile(r"(?i)\b(" + "|".join(SPELLED) + r")\b(?=\s+[a-z])")
INFERENCE = re.compile(r"(?i)(?:,\s*|\s+)(?:suggesting|indicating|implying|making\s+(?:it|them|"
                       r"this|these)\b)|,?\s*\b(?:which|this|that)\s+(?:suggests|indicates|"
                       r"implies|means)\b|(?<!model)(?<!recommender)\s+(?:suggests|indicates|"
                       r"implies)\s+that\b")
"""Where the model's reading of a fact starts (", suggesting …", "which indicates …", "… of 0.0
suggests that …"); "the model suggests this item" is the claim's own verb."""
ROUNDED_UP = re.compile(r"(?i)\b(?:over|more\s+than|nearly|almost|upwards\s+of)\s+(?=\d)")


def spelled_counts(text: str) -> str:
    """ "three items" → "3 items": a count written as a word is checked like a digit."""
    return SPELLED_COUNT.sub(lambda m: SPELLED[m.group(1).lower()], text)


def after_out_of(before: str) -> bool:
    """Whether a number follows "out of" (the top of a rating scale: "4.5 out of 5")."""
    return bool(OUT_OF.search(before))


def check_unmeasured(text: str, kind: str, values: Mapping[str, Any]) -> list[str]:
    """Rule 6: "a high number of users", "many reviews", "popular", "a good rating" compare a
    figure with others: true only with a cited comparison (a rank, a share, a percentile), and
    a cited percentile must point the same way (75 or more for "many", 25 or less for "few")."""
    match = UNMEASURED.search(text)
    if kind == "review" or not match:
        return []
    compared = {i: v for i, v in values.items() if any(k in i for k in MAGNITUDE_FACTS)}
    if not compared:
        return [f"'{match.group()}': the evidence gives no comparison; state the figure instead"]
    for ident, value in compared.items():
        number = re.search(r"\d+(?:\.\d+)?", str(value)) if "percentile" in ident else None
        if number is None:
            continue
        low = bool(LOW_WORDS.search(match.group()))
        if (low and float(number.group()) > LOW_PERCENTILE) or (
                not low and float(number.group()) < HIGH_PERCENTILE):
            return [f"'{match.group()}': {ident} is {number.group()}, which does not say that; "
                    "state the figure instead"]
    return []


def check_comparisons(text: str, kind: str, values: Mapping[str, Any]) -> list[str]:
    """Rule 7: a superlative ("the most highly rated item") needs a cited rank or top list
    (or a cited text that says it: a description's "the world's most fascinating");
    a model score, share or rank is never "high" or "good" (nothing to compare it with)
    unless a cited figure is given against the overall one ("0.018 vs 0.028 overall"); a
    figure is not "over" or "nearly" itself."""
    reasons = []
    ids = list(values)
    superlative = RATED_SUPERLATIVE.search(text) or SUPERLATIVE.search(text)
    ranked_by = ("rank",) if RATED_SUPERLATIVE.search(text) else COMPARISON_FACTS
    cited_words = " ".join(str(v) for v in values.values()).lower()
    if superlative and kind != "review" and not any(
            k in ident for ident in ids for k in ranked_by) and (
            superlative.group().lower() not in cited_words):  # else quoting a description
        reasons.append(f"'{superlative.group()}': the evidence ranks nothing; state the figure")
    judged = JUDGED_SCORE.search(text)
    if judged and not any("overall" in str(v) for v in values.values()):
        reasons.append(f"'{judged.group()}': a score has no baseline; state its value only")
    approximate = next((m for m in APPROXIMATE.finditer(text) if not (
        m.group().lower().startswith("over") and ACROSS.search(text[:m.start()]))), None)
    if approximate:
        reasons.append(f"'{approximate.group()}…': the facts give exact figures; state the "
                       "figure as it is")
    return reasons


def check_scope(text: str, ids: list[str], purchases_cited: bool) -> list[str]:
    """Rule 8: what a cited figure is of. A customer's overall rating or review count is not
    said of some items ("4.7 for the magazine"), nor called ratings they received; a first /
    last activity date is not a purchase or a start of use (unless a purchase fact is cited
    as well); a list of reviewed items is not what they like; an event is not use; a model
    rank is not a rank among all items."""
    checks = [
        (NARROWED, any(i in OVERALL_FACTS for i in ids),
         "the cited figure is over all their ratings, not for some items"),
        (RECEIVED, any(i in OVERALL_FACTS for i in ids),
         "these are ratings the subject gave, not received"),
        (PURCHASE_OR_USE, any(i in ACTIVITY_DATES for i in ids) and not purchases_cited,
         "an activity date is their first or last event of any kind, not a purchase or a "
         "start of use"),
        (LIKING, any(i in REVIEW_LISTS for i in ids) and not any(i[:2] == "R:" for i in ids),
         "the cited list is of items they reviewed, which says nothing of liking; say they "
         "reviewed them"),
        (USE, any(i in EVENT_FACTS for i in ids),
         "an event is a recorded interaction (a view, a cart, a review), not use or ownership"),
        (RANK_SCOPE, "F:rank" in ids,
         "the rank is among this customer's top suggestions, not among all items"),
    ]
    reasons = []
    for pattern, applies, reason in checks:
        match = pattern.search(text) if applies else None
        if match:
            reasons.append(f"'{match.group()}': {reason}")
    return reasons


def companions(ids: list[str], text: str, facts: Mapping[str, Any]) -> list[str]:
    """The counts (`COMPANIONS`) of the cited means that the claim states but does not cite,
    added to its evidence and shown as its citations (so a reader sees both)."""
    numbers = set(re.findall(r"\d[\d,]*(?:\.\d+)?", text))
    added = []
    for mean, count in COMPANIONS.items():
        value = facts.get(count[2:])
        forms = {str(value)} | ({f"{value:,}"} if isinstance(value, int) else set())
        if mean in ids and count not in ids and value is not None and forms & numbers:
            added.append(count)
    return added


def exact_figures(text: str, exact: set[str]) -> str:
    """ "over 163 reviews" → "163 reviews" where 163 is one of the `exact` figures (canonical
    forms) of the cited evidence: the fact's own figure, not a rounded-up one (small models
    write "over" out of habit; any other figure is left for the number check to refuse, and
    "4.8 over 19 ratings", which means across, is kept)."""
    def exact_or_kept(match: re.Match[str]) -> str:
        number = re.match(r"[\d,]*\d(?:\.\d+)?", text[match.end():])
        across = match.group().lower().startswith("over") and ACROSS.search(
            text[:match.start()])
        if across or number is None:
            return match.group()
        form = canonical_number(float(number.group().replace(",", "")))
        return "" if form in exact else match.group()

    return ROUNDED_UP.sub(exact_or_kept, text)


def without_inference(text: str) -> str:
    """The claim without a trailing ", suggesting …" / "which indicates …": the fact stated is
    kept, the model's reading of it dropped (kept whole when too little would remain)."""
    for match in INFERENCE.finditer(text):
        stated = text[:match.start()].rstrip(" ,;.")
        if len(stated.split()) >= 3:
            return stated + "."
    return text


PLACEHOLDERS = frozenset({"a short headline", "one sentence", "a call to action", "headline",
                          "cta", "text", "name", "short name"})
"""Shape examples of the prompts: a small model sometimes copies one instead of writing."""


def vacuous(text: str, min_words: int = 2) -> list[Violation]:
    """A text with fewer than `min_words` words ("...") or a prompt's placeholder copied."""
    words = re.findall(r"[A-Za-z]{2,}", text)
    if len(words) < min_words or text.strip(" .!?").lower() in PLACEHOLDERS:
        return [Violation("claim", text[:40], "write real words, not a placeholder")]
    return []
