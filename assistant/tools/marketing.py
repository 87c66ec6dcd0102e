"""`marketing_copy`: channel-sized message variants about a real item for a user or segment.

Grounding: the copy may only use the item's real attributes and the target's evidence. Each
variant is checked: every number must be in the facts (so no invented prices or percentages),
promotional claims ("free", "% off", "discount", "sale", "limited time"…) are rejected unless
the facts contain them, sensitive attributes (age, gender, health…) are rejected unless they
quote a shown fact (a title), copy speaks for the shop and never in a reviewer's first person,
it holds no markup or links (copied from a review: stripped, and the variant rejected), and the
channel's length limits hold. Failing variants are sent back once with the reasons;
variants that still fail are dropped, and when none is left a plain template variant is used.
An item with nothing to describe (no title, brand, description, named category or reviews)
gets the template directly: the model could only invent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
from langchain_core.messages.utils import convert_to_messages
from pydantic import BaseModel, Field

from assistant.facts import item_facts
from assistant.grounding import (
    Violation,
    check_numbers,
    sensitive_mentions,
    strip_unsafe_markup,
)
from assistant.llm.backends import LLMBackend
from assistant.llm.errors import StructuredOutputError
from assistant.llm.structured import structured
from assistant.tools.evidence import fact_block, review_block
from assistant.tools.narrate import retry_messages
from assistant.tools.persona import subject_facts
from assistant.tools.trace import ToolRun
from core.errors import InputError
from prompts import load_prompt
from store.queries import source_of_user, table_exists, user_sources

PROMPT = "marketing_copy"
Channel = Literal["email", "push", "banner"]
CHANNELS: dict[str, dict[str, Any]] = {
    "email": {"headline": 80, "body": 600,
              "rules": "headline is the subject line (under 80 characters); body is 2 to 4 "
                       "sentences."},
    "push": {"headline": 50, "body": 140,
             "rules": "headline under 50 characters; body one sentence under 140 characters."},
    "banner": {"headline": 40, "body": 90,
               "rules": "headline under 40 characters; body a short call to action under 90 "
                        "characters."},
}
PROMO = re.compile(r"\b(free|discount\w*|sale|savings|deals?|coupons?|"
                   r"promo\w*|limited[- ]time|today only|guarantee\w*|cheapest|lowest price|"
                   r"best[- ]selling|award\w*|affordabl\w*|save|saving|cheap\w*|bargain\w*|"
                   r"launch\w*|brand[- ]new|% ?off)\b|%", re.IGNORECASE)
SENSITIVE = re.compile(r"\b(aged|years old|gender|male|female|women|men|pregnan\w*|health|"
                       r"disab\w*|income|religio\w*|ethnic\w*|race|sexual\w*)\b", re.IGNORECASE)
FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|I'll|me|my|mine|myself)\b", re.IGNORECASE)
"""A reviewer's voice: copy speaks for the shop ("you", "we"), never as a customer."""
QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
MAX_VARIANTS = 5


class Variant(BaseModel):
    """One message: headline (subject / title) and body."""

    # No maxLength in the schema: llama.cpp turns it into a grammar so large that its server
    # fails to parse it and exits. The channel's length limits are checked by `check_variant`.
    headline: str
    body: str


class Variants(BaseModel):
    """The LLM's answer: a list of variants."""

    variants: list[Variant] = Field(min_length=1, max_length=MAX_VARIANTS)


@dataclass
class CopyResult:
    """Checked variants, the evidence they may use and provenance."""

    item_id: str
    source: str
    target: str
    channel: str
    tone: str
    variants: list[dict[str, str]]
    status: str
    run: ToolRun
    item: dict[str, Any] = field(default_factory=dict)
    audience: dict[str, Any] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"item_id": self.item_id, "source": self.source, "target": self.target,
                "channel": self.channel, "tone": self.tone, "variants": self.variants,
                "status": self.status, "notice": self.notice, "item": self.item,
                "audience": self.audience, "rejected": self.rejected, **self.run.to_dict()}


def check_variant(variant: Variant, channel: str, facts_text: str, facts: Any) -> list[Violation]:
    """Every rule a variant must pass (numbers, promotional words, sensitive words, length)."""
    text = f"{variant.headline}\n{variant.body}"
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
    limits = CHANNELS[channel]
    for part in ("headline", "body"):
        value = getattr(variant, part)
        if not value.strip():
            problems.append(Violation("length", part, f"the {part} is empty"))
        elif len(value) > limits[part]:
            problems.append(Violation("length", part, f"the {part} is {len(value)} characters; "
                                      f"{channel} allows {limits[part]}"))
    return problems


def _target(con: duckdb.DuckDBPyConnection, source: str, user_id: str | None,
            segment: int | None) -> tuple[str, dict[str, Any]]:
    if user_id is not None:
        src = source_of_user(con, user_id, source)
        if src != source:
            raise InputError(f"user {user_id!r} is in {src}, the item in {source}")
        return f"customer {user_id}", subject_facts(con, source, [user_id])
    if segment is None:
        raise InputError("give a target: a user id or a segment")
    if not table_exists(con, "user_scores"):
        raise InputError("no user scores yet, so no segments; run `insight score` first")
    users = [r[0] for r in con.execute("SELECT user_id FROM user_scores WHERE source = ? AND "
                                       "segment = ?", [source, segment]).fetchall()]
    if not users:
        raise InputError(f"unknown segment {segment} in source {source!r}")
    return (f"segment {segment} ({len(users)} users)",
            {"users": len(users), **subject_facts(con, source, users)})


def _item_source(con: duckdb.DuckDBPyConnection, item_id: str, source: str | None,
                 user_id: str | None) -> str:
    if source:
        return source
    if user_id is not None:
        sources = user_sources(con, user_id)
        if len(sources) == 1:
            return sources[0]
    rows = con.execute("SELECT DISTINCT source FROM items WHERE item_id = ? UNION SELECT "
                       "DISTINCT source FROM events WHERE item_id = ?", [item_id, item_id]
                       ).fetchall()
    if not rows:
        raise InputError(f"unknown item {item_id!r}")
    if len(rows) > 1:
        raise InputError(f"item {item_id!r} is in several sources; choose one with --source")
    return str(rows[0][0])


def describable(item: dict[str, Any], reviews: list[Any]) -> bool:
    """True when the item has words to write about: a title, brand, description, a category
    name (not just a number) or reviews."""
    category = str(item.get("category") or "")
    return bool(item.get("title") or item.get("brand") or item.get("description") or reviews
                or (category and not category.replace(".", "").isdigit()))


def template_variant(item: dict[str, Any], channel: str) -> dict[str, str]:
    """A plain, always-grounded variant from the item's title, brand and rating."""
    title = str(item.get("title") or f"item {item['item_id']}")
    brand = f" by {item['brand']}" if item.get("brand") else ""
    rating = (f" Rated {item['mean_rating']} out of 5 in {item['review_count']} reviews."
              if item.get("mean_rating") and item.get("review_count") else "")
    limits = CHANNELS[channel]
    headline = title[: limits["headline"]]
    body = f"Take another look at {title}{brand}.{rating}"
    if len(body) > limits["body"]:
        body = f"Take another look at {title}{brand}."[: limits["body"]]
    return {"headline": headline, "body": body}


def marketing_copy(item_id: str, *, con: duckdb.DuckDBPyConnection, backend: LLMBackend,
                   user_id: str | None = None, segment: int | None = None,
                   source: str | None = None, channel: str = "email", tone: str = "friendly",
                   n_variants: int = 3,
                   on_chunk: Callable[[str], None] | None = None,
                   mask_pii: bool = True) -> CopyResult:
    """Grounded copy variants for `item_id`, aimed at a user or a segment (personal data in
    review text masked unless `mask_pii` is off)."""
    if channel not in CHANNELS:
        raise InputError(f"unknown channel {channel!r}; choose {', '.join(CHANNELS)}")
    if not 1 <= n_variants <= MAX_VARIANTS:
        raise InputError(f"variants must be between 1 and {MAX_VARIANTS}")
    tone = re.sub(r"[^\w ,-]", "", tone)[:40] or "friendly"
    run = ToolRun(tool="marketing_copy", model=backend.model)
    with run.step("gather item and audience facts") as step:
        src = _item_source(con, item_id, source, user_id)
        item = item_facts(con, src, item_id, n_reviews=3, mask_pii=mask_pii)
        target, audience = _target(con, src, user_id, segment)
        item_view = {k: v for k, v in item.facts.items() if k in (
            "item_id", "title", "brand", "category", "price", "description", "mean_rating",
            "review_count")}
        step.detail = f"{len(item_view)} item facts, {len(audience)} audience facts"
    if not describable(item_view, item.reviews):
        # Nothing true to say about the product (e.g. taobao: an id and a category number): a
        # generated message could only invent, so the plain template is the honest answer.
        return CopyResult(item_id=item_id, source=src, target=target, channel=channel,
                          tone=tone, variants=[template_variant(item_view, channel)],
                          status="template", run=run.finish(), item=item_view,
                          audience=audience, notice=f"item {item_id} has no title, brand, "
                          "description, named category or reviews in the data, so there is "
                          "nothing to write about; a plain template variant is shown")
    facts_text = json.dumps(item_view, default=str) + json.dumps(audience, default=str)
    number_facts = {"item": item_view, "audience": audience}
    prompt = load_prompt(PROMPT)
    run.use_prompt(prompt.ref)
    messages: list[Any] = prompt.render(
        channel=channel, channel_rules=CHANNELS[channel]["rules"], tone=tone,
        item_facts=fact_block(item_view, "I"), target=target,
        target_facts=fact_block(audience) or "(no activity facts)",
        reviews=review_block(item.reviews, 200), n=n_variants)
    kept: list[dict[str, str]] = []
    rejected: list[dict[str, Any]] = []
    for attempt in (1, 2):
        with run.step(f"write variants (attempt {attempt})") as step:
            try:
                answer = structured(backend, messages, Variants)
            except StructuredOutputError as exc:
                step.status, step.detail = "fallback", str(exc)[:300]
                break
            run.mark_first_token()
            problems_all: list[Violation] = []
            for variant in answer.variants:
                clean = Variant(headline=strip_unsafe_markup(variant.headline).strip(),
                                body=strip_unsafe_markup(variant.body).strip())
                problems = check_variant(clean, channel, facts_text, number_facts)
                if clean != Variant(headline=variant.headline.strip(), body=variant.body.strip()):
                    problems.append(Violation("markup", "", "write plain text: no HTML, links, "
                                              "web addresses or markup copied from reviews"))
                if problems:
                    rejected.append({**clean.model_dump(), "attempt": attempt,
                                     "violations": [p.message for p in problems]})
                    problems_all += problems
                elif clean.model_dump() not in kept:
                    kept.append(clean.model_dump())
            step.detail = f"{len(kept)} kept, {len(problems_all)} problems"
            if on_chunk is not None:
                for v in kept:
                    on_chunk(f"{v['headline']}\n{v['body']}\n\n")
        if len(kept) >= n_variants or not problems_all:
            break
        messages = retry_messages(convert_to_messages(messages), problems_all)
    status = "ok" if kept else "fallback"
    notice = None
    if not kept:
        kept = [template_variant(item_view, channel)]
        notice = "No generated variant passed the checks; a plain template variant is shown."
    return CopyResult(item_id=item_id, source=src, target=target, channel=channel, tone=tone,
                      variants=kept[:n_variants], status=status, run=run.finish(),
                      item=item_view, audience=audience, rejected=rejected, notice=notice)
