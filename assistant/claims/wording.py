"""Wording rules of the claim verifier (`assistant.claims.verify`) that read the sentence
itself rather than the evidence: counts written as words, the rating scale after "out of",
magnitude words and superlatives that need a comparison, judgments of a score, a customer's
overall figures narrowed to some items, activity dates read as purchases, and a trailing
inference of the model.

Kept apart so the verifier's evidence rules stay readable; each function is used by one rule.
"""

from __future__ import annotations

import re

UNMEASURED = re.compile(r"(?i)\b(?:(?:high|large|great|huge|low|small)\s+(?:number|count|"
                        r"amount)|many|popular(?:ity)?|few)\b")
"""Magnitude words that need a comparison (a rank, a share) to be true of a bare count."""
COMPARISON_FACTS = ("rank", "share", "percentile", "top")
SUPERLATIVE = re.compile(r"(?i)\b(?:most\s+(?:highly\s+)?\w+|highest[- ]\w+|best[- ]\w+|"
                         r"top[- ]rated)\b")
"""A superlative ranks something among others: true only with a cited rank or top list."""
RATED_SUPERLATIVE = re.compile(r"(?i)\b(?:most\s+highly|highest|best|top)[- ]rated\b")
"""Ranked by rating: a top list by frequency (a top category) does not support it."""
JUDGED_SCORE = re.compile(r"(?i)\b(?:high|higher|low|good|strong|significant|large|great|"
                          r"impressive|solid)\s+(?:model\s+)?(?:score|share)\b")
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
OUT_OF = re.compile(r"(?i)\bout\s+of\s*$")
SPELLED = {"two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
           "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12"}
SPELLED_COUNT = re.compile(r"(?i)\b(" + "|".join(SPELLED) + r")\b(?=\s+[a-z])")
INFERENCE = re.compile(r"(?i),?\s*(?:which\s+|this\s+)?(?:suggest(?:s|ing)|indicat(?:es|ing)"
                       r"|impl(?:ies|ying))\b.*$")


def spelled_counts(text: str) -> str:
    """ "three items" → "3 items": a count written as a word is checked like a digit."""
    return SPELLED_COUNT.sub(lambda m: SPELLED[m.group(1).lower()], text)


def after_out_of(before: str) -> bool:
    """Whether a number follows "out of" (the top of a rating scale: "4.5 out of 5")."""
    return bool(OUT_OF.search(before))


def check_unmeasured(text: str, kind: str, ids: list[str]) -> list[str]:
    """Rule 6: "a high number of users", "many reviews", "popular" compare a count with
    others; without a cited comparison (a rank, a share) the claim states the figure instead."""
    if kind == "review" or any(k in ident for ident in ids for k in COMPARISON_FACTS):
        return []
    match = UNMEASURED.search(text)
    return [f"'{match.group()}': the evidence gives no comparison; state the figure instead"
            ] if match else []


def check_comparisons(text: str, kind: str, ids: list[str]) -> list[str]:
    """Rule 7: a superlative ("the most highly rated item") needs a cited rank or top list;
    a model score or share is never "high" or "good" (nothing to compare it with); a figure
    is not "over" or "nearly" itself."""
    reasons = []
    superlative = RATED_SUPERLATIVE.search(text) or SUPERLATIVE.search(text)
    ranked_by = ("rank",) if RATED_SUPERLATIVE.search(text) else COMPARISON_FACTS
    if superlative and kind != "review" and not any(
            k in ident for ident in ids for k in ranked_by):
        reasons.append(f"'{superlative.group()}': the evidence ranks nothing; state the figure")
    judged = JUDGED_SCORE.search(text)
    if judged:
        reasons.append(f"'{judged.group()}': a score has no baseline; state its value only")
    approximate = APPROXIMATE.search(text)
    if approximate:
        reasons.append(f"'{approximate.group()}…': the facts give exact figures; state the "
                       "figure as it is")
    return reasons


def check_scope(text: str, ids: list[str], purchases_cited: bool) -> list[str]:
    """Rule 8: a customer's overall rating or review count is not said of some items ("4.7
    for the magazine"), and a first / last activity date is not a purchase or a start of use
    (unless a purchase fact is cited as well)."""
    reasons = []
    narrowed = NARROWED.search(text)
    if narrowed and any(i in OVERALL_FACTS for i in ids):
        reasons.append(f"'{narrowed.group()}': the cited figure is over all their ratings, not "
                       "for some items")
    use = PURCHASE_OR_USE.search(text)
    if use and any(i in ACTIVITY_DATES for i in ids) and not purchases_cited:
        reasons.append(f"'{use.group()}': an activity date is their first or last event of any "
                       "kind, not a purchase or a start of use")
    return reasons


def without_inference(text: str) -> str:
    """The claim without a trailing ", suggesting …" / "which indicates …": the fact stated is
    kept, the model's reading of it dropped (kept whole when too little would remain)."""
    stated = INFERENCE.sub("", text).rstrip(" ,;.")
    return stated + "." if stated != text.rstrip(" .") and len(stated.split()) >= 3 else text
