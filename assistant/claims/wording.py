"""Wording rules of the claim verifier (`assistant.claims.verify`) that read the sentence
itself rather than the evidence: counts written as words, the rating scale after "out of",
magnitude words that need a comparison, and a trailing inference of the model.

Kept apart so the verifier's evidence rules stay readable; each function is used by one rule.
"""

from __future__ import annotations

import re

UNMEASURED = re.compile(r"(?i)\b(?:(?:high|large|great|huge|low|small)\s+(?:number|count|"
                        r"amount)|many|popular(?:ity)?|few)\b")
"""Magnitude words that need a comparison (a rank, a share) to be true of a bare count."""
COMPARISON_FACTS = ("rank", "share", "percentile", "top")
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


def without_inference(text: str) -> str:
    """The claim without a trailing ", suggesting …" / "which indicates …": the fact stated is
    kept, the model's reading of it dropped (kept whole when too little would remain)."""
    stated = INFERENCE.sub("", text).rstrip(" ,;.")
    return stated + "." if stated != text.rstrip(" .") and len(stated.split()) >= 3 else text
