"""Citations attached by code to sentences the model left uncited, from evidence matches.

Small models often write a correct sentence ("They wrote 42 reviews.") without the citation
the prompt asked for. Before the grounding check, each uncited sentence is matched against the
evidence: a number equal (in any usual formatting) to a fact's value cites that fact; a fact's
text value (a category, a brand, an item id) written in the sentence cites that fact; a
sentence sharing several content words with one of the shown reviews cites that review. Only
exact evidence matches are cited; a sentence that matches nothing stays uncited (and counts as
an unsupported claim in the evaluation). The number of citations added is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from assistant.grounding import allowed_numbers, extract_citations, extract_numbers

WORD = re.compile(r"[a-z][a-z'-]{4,}")
MIN_SHARED_WORDS = 3
MAX_CITES = 2
COMMON = frozenset(["about", "after", "again", "their", "there", "these", "those", "which",
                    "while", "would", "could", "should", "other", "items", "customer",
                    "customers", "review", "reviews", "rating", "ratings", "events"])


def _words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in COMMON}


def attribute(text: str, facts: Mapping[str, Any], reviews: Mapping[str, str]) -> tuple[str, int]:
    """`text` with citations appended to uncited sentences that match evidence; how many."""
    from assistant.tools.narrate import sentences

    number_keys = {key: allowed_numbers(value) for key, value in facts.items()
                   if value is not None and not isinstance(value, bool)}
    text_values = {key: str(value).lower() for key, value in facts.items()
                   if isinstance(value, str) and len(str(value)) >= 3}
    review_words = {rid: _words(body) for rid, body in reviews.items()}
    out: list[str] = []
    added = 0
    for sentence in sentences(text):
        if extract_citations(sentence):
            out.append(sentence)
            continue
        cites: list[str] = []
        for number in extract_numbers(sentence):
            canonical = f"{float(number):.6f}".rstrip("0").rstrip(".")
            keys = [k for k, forms in number_keys.items() if canonical in forms]
            # prefer the fact whose name the sentence uses ("42 reviews" → reviews_written)
            keys.sort(key=lambda k: -sum(part.rstrip("s") in sentence.lower()
                                         for part in k.split("_") if len(part) > 2))
            key = keys[0] if keys else None
            if key and f"F:{key}" not in cites:
                cites.append(f"F:{key}")
        lowered = sentence.lower()
        for key, value in text_values.items():
            if key not in ("user_id", "source") and value in lowered and f"F:{key}" not in cites:
                cites.append(f"F:{key}")
        if not cites:
            words = _words(sentence)
            best = max(review_words.items(), key=lambda kv: len(words & kv[1]), default=None)
            if best and len(words & best[1]) >= MIN_SHARED_WORDS:
                cites.append(f"R:{best[0]}")
        if cites:
            cites = cites[:MAX_CITES]
            added += len(cites)
            body, end = (sentence[:-1], sentence[-1]) if sentence[-1:] in ".!?" else (
                sentence, "")
            sentence = body + " " + " ".join(f"[{c}]" for c in cites) + end
        out.append(sentence)
    return " ".join(out), added
