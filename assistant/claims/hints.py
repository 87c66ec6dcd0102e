"""Where a refused claim's missing pieces are: hints for the repair turn.

A small model told "'Find' is not in the cited evidence" or "the number 19 is not the value of
a cited fact" tends to resend the same claim with the same citations. Most such claims are
true but cite the wrong ids (a sentence copied from the product description cited as the
title; a review count cited as the rating). Naming the ids that do hold the word or number
("19 is F:ratings_given"; "'perfect' is in F:item_description"), or the fact that does
compare ("high rating": the rating percentile), lets the rewrite cite them;
naming none ("'30,000' is in no fact") tells it to drop the piece. The hints only point: the
rewritten claim is verified again from scratch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.claims.measure_words import FACT_MEASURES, WORD_MEASURE
from assistant.claims.verify import EvidenceSet
from assistant.grounding import allowed_numbers, canonical_number

UNCITED = re.compile(r"the number ([\d,.]+) is not the value of a cited fact")
UNCITED_WORD = re.compile(r"'([^']+)' is (?:not in the cited evidence|praise the cited)")
UNCOMPARED = re.compile(r"'([^']+)': the evidence (?:gives no comparison|ranks nothing)")
WORDS = re.compile(r"[a-z]{3,}")
MAX_OWNERS = 2


def _number_owners(number: str, text: str, evidence: EvidenceSet) -> list[str]:
    """The facts whose value `number` is, those measuring what follows it in `text` first."""
    form = canonical_number(float(number.replace(",", "")))
    after = text.split(number, 1)[-1].lower()
    measure = next((WORD_MEASURE[w] for w in re.findall(r"[a-z]+", after)[:2]
                    if w in WORD_MEASURE), None)
    owners = sorted((k for k, v in evidence.facts.items() if form in allowed_numbers(v)),
                    key=lambda k: measure not in FACT_MEASURES.get(k, ()))
    return [f"F:{k}" for k in owners]


def _word_owners(word: str, evidence: EvidenceSet) -> list[str]:
    """The facts and reviews whose text holds `word` (as a whole word, any case)."""
    pattern = re.compile(rf"(?<!\w){re.escape(word.lower())}(?!\w)")
    owners = [f"F:{k}" for k, v in evidence.facts.items() if pattern.search(str(v).lower())]
    owners += [f"R:{k}" for k, r in evidence.reviews.items()
               if pattern.search(f"{r.title or ''} {r.text}".lower())]
    return owners


def _misread_fact(number: str, text: str, cited: Sequence[str], evidence: EvidenceSet
                  ) -> str | None:
    """The cited fact a number in no fact was most likely read from: one whose value holds a
    number and shares the most words with the words around `number` in `text`."""
    before, _, after = text.partition(number)
    near = set(WORDS.findall(" ".join([*before.split()[-4:], *after.split()[:6]]).lower()))
    best, best_overlap = None, 0
    for ident in cited:
        kind, _, key = ident.partition(":")
        value = evidence.facts.get(key) if kind == "F" else None
        if value is None or not re.search(r"\d", str(value)):
            continue
        overlap = len(near & set(WORDS.findall(f"{key} {value}".lower().replace("_", " "))))
        if overlap > best_overlap:
            best, best_overlap = f"{ident} says {str(value)[:80]!r}", overlap
    return best


def _comparison_facts(phrase: str, evidence: EvidenceSet) -> list[str]:
    """The facts that do compare the subject with others (percentiles, shares against the
    overall one), those sharing a word with `phrase` first ("high mean rating" → the rating
    percentile)."""
    words = set(WORDS.findall(phrase.lower().replace("users", "user")))
    keys = [k for k, v in evidence.facts.items()
            if k.endswith("_percentile") or " than " in f" {v} "]
    keys.sort(key=lambda k: not words & set(WORDS.findall(k.replace("_", " "))))
    return [f"F:{k} says {str(evidence.facts[k])[:80]!r}" for k in keys]


def repair_hints(text: str, reasons: Sequence[str], evidence: EvidenceSet,
                 cited: Sequence[str] = ()) -> str:
    """For each number and word a claim was refused for, the ids that hold it (or that none
    does, with the `cited` fact it was likely misread from), as a parenthesised note to append
    to the claim's problems ("" when none apply)."""
    hints: dict[str, str] = {}
    for reason in reasons:
        number = UNCITED.match(reason)
        word = UNCITED_WORD.match(reason)
        if number is not None:
            piece = number.group(1)
            owners = _number_owners(piece, text, evidence)
            misread = None if owners else _misread_fact(piece, text, cited, evidence)
        elif word is not None:
            piece, misread = word.group(1), None
            owners = _word_owners(piece, evidence)
        elif (compared := UNCOMPARED.match(reason)) is not None:
            phrase = compared.group(1)
            found = _comparison_facts(phrase, evidence)
            quoted = _word_owners(phrase, evidence)
            if found:
                hints[phrase] = f"to compare, cite {found[0]}"
            elif quoted:  # a description or review that says it
                hints[phrase] = f"'{phrase}' is in {' or '.join(quoted[:MAX_OWNERS])}"
            continue
        else:
            continue
        if owners:
            hints[piece] = f"{piece} is {' or '.join(owners[:MAX_OWNERS])}"
        elif misread:
            hints[piece] = f"{piece} is in no fact; {misread}"
        else:
            hints[piece] = f"'{piece}' is in no fact or review: drop it"
    return f" ({'; '.join(hints.values())})" if hints else ""
