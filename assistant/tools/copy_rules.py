"""The guardrails of marketing copy, the channels' limits, and the facts-only template.

Every part of a variant (headline, each body claim, call to action) must pass `part_problems`:
every number is in the item / audience facts (no invented prices or percentages), promotional
claims ("free", "% off", "discount", "sale", "limited time"…) only where the facts contain them,
no sensitive attributes (age, gender, health…) unless quoting a shown fact (a title), the shop's
voice (never a reviewer's first person outside quotation marks), and no markup or links (copied
from a review). A body claim also states nothing the evidence it cites does not hold
(`unsupported_words`, `praise_problems`). `check_variant` applies the same rules to a whole
headline and body plus the channel's length limits.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from assistant.claims.schema import ClaimDraft, tagged_claims
from assistant.claims.verify import content_words
from assistant.grounding import (
    Violation,
    check_numbers,
    sensitive_mentions,
    strip_unsafe_markup,
)

CHANNELS: dict[str, dict[str, Any]] = {
    "email": {"headline": 80, "body": 600, "claims": (2, 3),
              "rules": "headline is the subject line (under 80 characters); 2 or 3 claims and "
                       "a call to action."},
    "push": {"headline": 50, "body": 140, "claims": (1, 2),
             "rules": "headline under 50 characters; 1 short claim and a call to action, "
                      "together under 140 characters."},
    "banner": {"headline": 40, "body": 90, "claims": (1, 1),
               "rules": "headline under 40 characters; 1 very short claim and a call to "
                        "action of 2 to 4 words, together under 90 characters."},
}
"""Per channel: the length limits of headline and body (claims and call to action as sent),
and (minimum, maximum) claims a variant's body holds."""
CTA_CHARS = 60
PROMO = re.compile(r"\b(free|discount\w*|sale|savings|deals?|coupons?|"
                   r"promo\w*|limited[- ]time|today only|guarantee\w*|cheapest|lowest price|"
                   r"best[- ]selling|award\w*|affordabl\w*|save|saving|cheap\w*|bargain\w*|"
                   r"launch\w*|brand[- ]new|hurry|last chance|% ?off)\b|%", re.IGNORECASE)
SENSITIVE = re.compile(r"\b(aged|years old|gender|male|female|women|men|pregnan\w*|health|"
                       r"disab\w*|income|religio\w*|ethnic\w*|race|sexual\w*)\b", re.IGNORECASE)
FIRST_PERSON = re.compile(r"(?<!\.)\b(I|I'm|I've|I'd|I'll|me|my|mine|myself)\b(?!\.\w)",
                          re.IGNORECASE)
"""A reviewer's voice: copy speaks for the shop ("you", "we"), never as a customer (the I of
"T.G.I. Friday's" is an initial)."""
PRAISE = re.compile(r"(?i)\b(perfect|ultimate|amazing|incredible|best|excellent|outstanding|"
                    r"ideal|must[- ]have|unbeatable|superb|fantastic|stunning|premium|finest|"
                    r"top[- ]quality|high[- ]quality|world[- ]class|love|loved|loves|satisfied|"
                    r"satisfaction|loyal|loyalty|game[- ]changer|beloved|unanimous(?:ly)?)\b")
"""Praise a shop may only repeat from the product's own description or its reviews."""
QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
SHOP_WORDS = content_words(
    "give gives make makes enjoy discover explore find take look check shop browse order try "
    "today here now offer offers offering feature features available choose choice pick get "
    "rating rated ratings average mean stars star score count number total people buyers "
    "readers fans listeners players owners reader subscribe subscription issue issues copy "
    "magazine magazines brand brands store stores online every each everyone anyone someone "
    "thing things also even well like need needs want wants know keep ready time year years "
    "treat celebrate welcome start stay meet")
"""Words a shop's message uses about any product: they state nothing that needs evidence."""
MAX_UNSUPPORTED_WORDS = 1
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]{3,}")
SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\s[-–—]\s+)\W*$")


class Variant(BaseModel):
    """One message as sent: headline (subject / title) and body."""

    headline: str
    body: str


def part_problems(text: str, facts_text: str, facts: Any) -> list[Violation]:
    """The copy guardrails for one part of a variant (numbers in the facts, no unsupported
    promotional claims, no sensitive attributes, the shop's voice, no markup)."""
    problems = check_numbers(text, facts)
    lowered = facts_text.lower()
    for m in PROMO.finditer(text):
        if m.group(0).lower() not in lowered:
            problems.append(Violation("claim", m.group(0), f"'{m.group(0)}' is a promotional "
                                      "claim the product facts do not support; remove it"))
    for word in sensitive_mentions(text, SENSITIVE, evidence=facts_text):
        problems.append(Violation("claim", word, f"do not mention '{word}'"))
    voice = FIRST_PERSON.search(QUOTED.sub(" ", text))
    if voice:
        problems.append(Violation("voice", voice.group(0), f"'{voice.group(0)}' speaks as a "
                                  "reviewer; write as the shop to the customer (you, we) and "
                                  "put any customer words in quotation marks"))
    if strip_unsafe_markup(text) != text:
        problems.append(Violation("markup", "", "write plain text: no HTML, links, web "
                                  "addresses or markup copied from reviews"))
    return problems


JOINERS = re.compile(r"(?:[\s,;:/&+–—-]+|\s+(?:a|an|the|and|or|with|for|of|to|in|on|by|at|"
                     r"from|your|our|this|that))$", re.IGNORECASE)


def fit_length(text: str, limit: int) -> str:
    """`text` on one line, shortened at a word boundary to at most `limit` characters when it
    is longer: a headline the model wrote too long keeps its first words instead of being
    refused. Words left dangling (a joiner, an unclosed bracket) are dropped as well."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else text[:limit]
    if cut.count("(") > cut.count(")"):
        cut = cut[: cut.rfind("(")]
    previous = None
    while previous != cut:
        previous, cut = cut, JOINERS.sub("", cut.rstrip())
    return cut


def praise_problems(text: str, cited_text: str) -> list[Violation]:
    """Praise words ("perfect", "the best") that the cited evidence (the product's
    description, a review) does not itself use: the shop would be inventing a quality."""
    lowered = cited_text.lower()
    return [Violation("claim", m.group(0), f"'{m.group(0)}' is praise the cited evidence does "
                      "not give; cite the description or review that says it, or drop it")
            for m in PRAISE.finditer(text) if m.group(0).lower() not in lowered]


def _name_like(word: str, at_start: bool) -> bool:
    """Whether `word` reads as a name: capitalised inside a sentence, or (where every word
    is capitalised, at a sentence's start) with a capital or digit inside ("FamilyFun")."""
    return any(c.isupper() or c.isdigit() for c in word[1:]) or (
        not at_start and word[0].isupper())


def unsupported_words(text: str, cited_text: str) -> list[Violation]:
    """Content words of a claim that the cited evidence never uses (beyond one lower-case
    word, and beyond `SHOP_WORDS`): "Forbes covers law and taxes" citing only a rating states
    what no cited fact says, even when it happens to be true; a word that reads as a name
    (`_name_like`: "FamilyFun magazine has…") gets no slack. Up to three are named so a repair
    can cite the fact or review that holds them."""
    known = content_words(cited_text) | SHOP_WORDS
    found = [(m.group(), _name_like(m.group(),
                                    bool(SENTENCE_START.search(text[:m.start()]))))
             for m in WORD.finditer(text)
             if content_words(m.group()) and not content_words(m.group()) <= known]
    missing = list(dict.fromkeys(word for word, _ in found))
    if len(missing) <= MAX_UNSUPPORTED_WORDS and not any(name for _, name in found):
        return []
    return [Violation("claim", word, f"'{word}' is not in the cited evidence; cite the fact "
                      "or review that says it, or drop it") for word in missing[:3]]


def length_problems(part: str, value: str, channel: str) -> list[Violation]:
    """An empty part, or one longer than the channel allows."""
    limit = CHANNELS[channel].get(part, CTA_CHARS)
    if not value.strip():
        return [Violation("length", part, f"the {part} is empty")]
    if len(value) > limit:
        return [Violation("length", part, f"the {part} is {len(value)} characters; "
                          f"{channel} allows {limit}")]
    return []


def claim_length_problems(text: str, channel: str) -> list[Violation]:
    """A body claim too long to fit the channel's body on its own (a banner's 90 characters):
    refused so the repair shortens it, rather than the variant failing for want of a claim
    that fits."""
    limit = CHANNELS[channel]["body"]
    if len(text) <= limit:
        return []
    return [Violation("length", "claim", f"the claim is {len(text)} characters; a {channel} "
                      f"body allows {limit}: shorten it")]


def check_variant(variant: Variant, channel: str, facts_text: str, facts: Any) -> list[Violation]:
    """Every rule a whole variant must pass (the part rules on headline and body, and the
    channel's length limits)."""
    problems = part_problems(f"{variant.headline}\n{variant.body}", facts_text, facts)
    for part in ("headline", "body"):
        problems += length_problems(part, getattr(variant, part), channel)
    return problems


def describable(item: dict[str, Any], reviews: list[Any]) -> bool:
    """True when the item has words to write about: a title, brand, description, a category
    name (not just a number) or reviews."""
    category = str(item.get("category") or "")
    return bool(item.get("title") or item.get("brand") or item.get("description") or reviews
                or (category and not category.replace(".", "").isdigit()))


def template_claims(item: dict[str, Any]) -> tuple[str, list[ClaimDraft]]:
    """The facts-only variant: a headline from the title and cited claims from the title,
    brand and rating (the last resort, and the answer for an item with nothing to say)."""
    title = str(item.get("title") or f"item {item['item_id']}")
    cite = "[F:item_title]" if item.get("title") else "[F:item_id]"
    brand = f" by {item['brand']} [F:item_brand]" if item.get("brand") else ""
    text = f"Take another look at {title}{brand} {cite}."
    if item.get("mean_rating") and item.get("review_count"):
        text += (f" Rated {item['mean_rating']} [F:item_mean_rating] on a scale of "
                 f"{item.get('rating_scale', '1 to 5 stars')} [F:item_rating_scale] in "
                 f"{item['review_count']} reviews [F:item_review_count].")
    return title, tagged_claims(text)
