"""What sets a segment apart: its facts compared with all users of its source.

A segment's raw means ("mean_recency_days 333.76") say little on their own; a name needs the
facts in which the segment differs most from everyone else ("days since last activity 0.011
against 0.022 overall"). `contrasts` computes them from the `segments` table (overall values
are user-weighted means over the source's segments), and `trait_name` turns the strongest one
into a plain behavioural name when the LLM's name cannot be used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LABELS: dict[str, tuple[str, str, str]] = {
    # fact: (plain label, name when higher, name when lower)
    "mean_recency_days": ("days since last activity", "Lapsed shoppers", "Recently active"),
    "mean_frequency": ("events per user", "Frequent visitors", "Occasional visitors"),
    "mean_tenure_days": ("days between first and last activity", "Long-time customers",
                         "Newcomers"),
    "mean_n_items": ("distinct items per user", "Wide explorers", "Focused shoppers"),
    "mean_active_days": ("active days per user", "Regulars", "One-visit shoppers"),
    "mean_events_per_active_day": ("events per active day", "Intensive sessions",
                                   "Light sessions"),
    "mean_share_view": ("share of views", "Window shoppers", "Decisive shoppers"),
    "mean_share_cart": ("share of cart adds", "Cart builders", "Few cart adds"),
    "mean_share_fav": ("share of favourites", "Wishlisters", "Few favourites"),
    "mean_share_purchase": ("share of purchases", "Buyers", "Browsers"),
    "buyers_share": ("share of users who bought", "Buyers", "Non-buyers"),
    "mean_n_purchases": ("purchases per user", "Repeat buyers", "Rare buyers"),
    "mean_monetary": ("spend per user", "Big spenders", "Small spenders"),
    "mean_mean_price": ("mean price of items", "Premium shoppers", "Budget shoppers"),
    "mean_mean_rating": ("mean rating given", "Happy reviewers", "Critical reviewers"),
    "mean_churn": ("churn risk", "At-risk customers", "Loyal customers"),
    "mean_intent": ("purchase intent", "High-intent shoppers", "Low-intent shoppers"),
}
"""Facts a segment can be told apart by; size facts (n_users, share_of_users) are not traits."""
MIN_FACTOR = 1.15
"""A fact counts as distinctive when it is at least this many times above or below overall."""


@dataclass(frozen=True)
class Contrast:
    """One fact of a segment against the same fact over all users of the source."""

    key: str
    value: float
    overall: float
    factor: float  # value / overall (> 1: higher); 0 when the segment has none of it

    @property
    def strength(self) -> float:
        """How far from overall, symmetric for higher and lower (|log factor|)."""
        return abs(math.log(max(self.factor, 0.01)))

    @property
    def higher(self) -> bool:
        """True when the segment is above overall."""
        return self.factor > 1

    def phrase(self) -> str:
        """e.g. "share of purchases: 0.308 vs 0.012 overall (25.7 times higher)"."""
        how = ("" if self.factor == 0 else f" ({self.factor:.1f} times higher)" if self.higher
               else f" ({1 / self.factor:.1f} times lower)")
        return f"{LABELS[self.key][0]}: {self.value:g} vs {self.overall:g} overall{how}"


def overall_values(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """User-weighted means of the trait facts over the segments of one source."""
    out: dict[str, float] = {}
    for key in LABELS:
        pairs = [(float(r[key]), float(r.get("n_users") or 0)) for r in rows
                 if isinstance(r.get(key), int | float) and not math.isnan(float(r[key]))]
        weight = sum(n for _, n in pairs)
        if pairs and weight > 0:
            out[key] = round(sum(v * n for v, n in pairs) / weight, 3)
    return out


def contrasts(facts: dict[str, Any], overall: dict[str, float], limit: int = 4
              ) -> list[Contrast]:
    """The segment's most distinctive facts, strongest first (at most `limit`)."""
    found = []
    for key, base in overall.items():
        value = facts.get(key)
        if not isinstance(value, int | float) or math.isnan(float(value)) or base <= 0:
            continue
        contrast = Contrast(key, round(float(value), 3), base, round(float(value) / base, 3))
        if contrast.factor >= MIN_FACTOR or contrast.factor <= 1 / MIN_FACTOR:
            found.append(contrast)
    return sorted(found, key=lambda c: -c.strength)[:limit]


def trait_name(found: Sequence[Contrast], taken: set[str]) -> str | None:
    """A plain name from the strongest contrasts that no other segment has; None if none."""
    named: dict[str, str] = {}  # topic -> name of its strongest contrast
    for c in found:
        named.setdefault(_topic(c.key), LABELS[c.key][1 if c.higher else 2])
    names = list(named.values())
    candidates = names[:1] + [f"{a}, {b[0].lower()}{b[1:]}" for i, a in enumerate(names)
                              for b in names[i + 1:]]
    return next((n for n in candidates if n.lower() not in taken), None)


def _topic(key: str) -> str:
    """The behaviour a fact measures (purchase facts share one), for names that don't repeat."""
    return next((topic for topic, (_, keys) in TOPICS.items() if key in keys), key)


TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    # words a text uses for a behaviour: (pattern, the facts that measure it)
    "cart adds": (r"\bcart", ("mean_share_cart",)),
    "purchases": (r"purchas|\bbuy|\bbought|\bbuyers?\b",
                  ("mean_share_purchase", "buyers_share", "mean_n_purchases")),
    "views": (r"\bview|\bbrows", ("mean_share_view",)),
    "favourites": (r"favou?rite|wishlist", ("mean_share_fav",)),
    "spend": (r"\bspen[dt]", ("mean_monetary",)),
    "prices": (r"\bprice|premium|expensive|budget|cheap", ("mean_mean_price",)),
    "ratings": (r"\brating|\brated\b", ("mean_mean_rating",)),
    "churn risk": (r"\bchurn|at[- ]risk", ("mean_churn",)),
    "purchase intent": (r"\bintent", ("mean_intent",)),
}
HIGH_WORDS = re.compile(r"\b(high|higher|highest|more|most|many|frequent\w*|lots|above|"
                        r"greater|large|larger|heavy|heavier)\b", re.IGNORECASE)
LOW_WORDS = re.compile(r"\b(low|lower|lowest|fewer|fewest|less|least|rare\w*|few|below|small|"
                       r"smaller|little|seldom|not|never|no|non|zero|without)\b", re.IGNORECASE)


def direction_errors(text: str, facts: dict[str, Any], overall: dict[str, float]) -> list[str]:
    """Clauses that call a behaviour high where the segment is below overall (or the reverse),
    e.g. "a high share of cart adds" for a segment with a sixth of the usual cart adds, or
    that mention a behaviour the segment never shows ("made purchases" with 0 purchases)."""
    found = {c.key: c for c in contrasts(facts, overall, limit=len(LABELS))}
    errors = []
    for clause in re.split(r"[,;.:()]|\bbut\b|\bwhile\b|\bwhereas\b", text):
        high, low = bool(HIGH_WORDS.search(clause)), bool(LOW_WORDS.search(clause))
        for topic, (pattern, keys) in TOPICS.items():
            present = [facts[k] for k in keys if isinstance(facts.get(k), int | float)]
            if present and not any(present) and not low and re.search(pattern, clause,
                                                                      re.IGNORECASE):
                errors.append(f"'{clause.strip()}' mentions {topic}, but this segment has "
                              "none")
                continue
            if high == low:
                continue  # no direction, or both: too ambiguous to judge
            ways = {found[k].higher for k in keys if k in found}
            if len(ways) != 1 or not re.search(pattern, clause, re.IGNORECASE):
                continue
            is_higher = ways.pop()
            if is_higher != high:
                errors.append(f"'{clause.strip()}' says {topic} are "
                              f"{'high' if high else 'low'}, but this segment has "
                              f"{'more' if is_higher else 'fewer'} than overall")
    return errors
