"""A segment's description as claims verified against its contrast facts.

The citable facts of a segment are its contrasts (`segment_traits.contrasts`: e.g.
`F:mean_share_purchase = share of purchases 0.308 vs 0.012 overall (25.7 times higher)`), its
size and what it shops for. A claim must cite them and is verified like every other claim
(`assistant.claims.verify`: numbers bound to the cited fact, names in the evidence, nothing
about a behaviour the segment has none of), plus the segment rules: no personal attributes, no
behaviour called high that is low (or the reverse), and no missing value written as a thing
("They primarily shop for none").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from assistant.claims.schema import ClaimDraft, tagged_claims
from assistant.claims.verify import EvidenceSet
from assistant.claims.wording import vacuous
from assistant.grounding import Violation, check_personal
from assistant.tools.segment_traits import TOPICS, Contrast, direction_errors

SIZE_FACTS = ("n_users", "share_of_users")
CONTEXT_FACTS = ("top_categories", "top_brands")
TOPIC_MEASURES = {"cart adds": "carts", "purchases": "purchases", "views": "views",
                  "favourites": "favs", "spend": "spend", "ratings": "ratings"}
"""Behaviour (`segment_traits.TOPICS`) → the measure (`assistant.claims.measure_words.MEASURES`) a
claim may not credit the segment with when it has none of it."""
MISSING = re.compile(r"(?i)\b(?:for|of|is|are|in|on|buy|buys|buying|shop|shops|shopping|"
                     r"likes?|prefer|prefers)\s+(?:none|null|nan|n/?a|unknown|nothing)\b|"
                     r"\b(?:null|nan|undefined)\b|\(none\)")


def segment_evidence(segment: int, source: str, facts: dict[str, Any],
                     found: list[Contrast]) -> EvidenceSet:
    """The facts a description may cite: each contrast in words with its numbers, the size and
    the top categories / brands; the behaviours the segment has none of are zero."""
    cited: dict[str, Any] = {c.key: c.phrase() for c in found}
    cited.update({k: facts[k] for k in (*SIZE_FACTS, *CONTEXT_FACTS)
                  if facts.get(k) not in (None, "")})
    zero = set()
    for topic, (_, keys) in TOPICS.items():
        present = [facts[k] for k in keys if isinstance(facts.get(k), int | float)]
        if present and not any(present) and topic in TOPIC_MEASURES:
            zero.add(TOPIC_MEASURES[topic])
    if "ratings" in zero:
        zero.add("reviews")
    return EvidenceSet(facts=cited, context={"segment": segment, "source": source},
                       zero=frozenset(zero))


def description_check(facts: dict[str, Any], overall: dict[str, float]
                      ) -> Callable[[str], list[Violation]]:
    """The segment rules as a claim's extra check: personal attributes, inverted behaviours,
    missing values written as things."""
    def check(text: str) -> list[Violation]:
        problems = check_personal(text) + vacuous(text)
        problems += [Violation("direction", "", m) for m in direction_errors(text, facts,
                                                                             overall)]
        missing = MISSING.search(text)
        if missing:
            problems.append(Violation("claim", missing.group(0), "the facts have no value "
                                      "here; do not write about what is missing"))
        return problems
    return check


def fact_lines(evidence: EvidenceSet) -> str:
    """The citable facts as `F:key = value` lines for the prompt."""
    return "\n".join(f"F:{k} = {v}" for k, v in evidence.facts.items())


def fallback_claims(found: list[Contrast], facts: dict[str, Any]) -> list[ClaimDraft]:
    """The computed description as claims: the strongest contrasts, else the size."""
    if found:
        text = " ".join(f"It differs in {c.phrase()} [F:{c.key}]." for c in found[:3])
    elif facts.get("share_of_users") is not None:
        text = (f"It holds {facts['share_of_users']} of the users [F:share_of_users], close to "
                "the source's average in every measured behaviour.")
    elif facts.get("n_users") is not None:
        text = f"It holds {facts['n_users']} users [F:n_users]."
    else:
        return []
    return tagged_claims(text)

