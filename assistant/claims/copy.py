"""Copy variants as claims: the JSON schema of a copy answer, its tolerant parser, and the
schema of a repair answer (one replacement per refused part).

A copy answer is `{"variants": [{"headline": "…", "claims": [{"evidence": ["F:item_title"],
"kind": "fact", "text": "…"}], "cta": "…"}]}`: the headline and the call to action are short
phrases checked by the copy guardrails, every sentence of the body is a claim with the ids it
rests on, verified on its own (`assistant.claims.verify`). The parser keeps every complete
variant of an answer cut off by the token limit; a variant written as plain `body` text (a
backend without structured output) becomes one claim per sentence, with any `[F:key]` tags as
its evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.claims.schema import (
    ClaimDraft,
    claim_draft,
    claims_schema,
    json_objects,
    strip_fences,
    tagged_claims,
)

MAX_VARIANTS = 5


@dataclass
class CopyDraft:
    """One proposed variant: headline, body claims and call to action."""

    headline: str
    claims: list[ClaimDraft] = field(default_factory=list)
    cta: str = ""


def _claim_item(ids: Iterable[str]) -> dict[str, Any]:
    """The schema of one claim whose evidence may only be one of `ids`."""
    return claims_schema(ids)["properties"]["claims"]["items"]


def copy_schema(ids: Iterable[str], n_variants: int, max_claims: int,
                min_claims: int = 1) -> dict[str, Any]:
    """The JSON schema of a copy answer: `n_variants` variants at most, each a headline,
    `min_claims` to `max_claims` claims citing only `ids`, and a call to action."""
    variant = {"type": "object",
               "properties": {"headline": {"type": "string"},
                              "claims": {"type": "array", "minItems": min_claims,
                                         "maxItems": max_claims, "items": _claim_item(ids)},
                              "cta": {"type": "string"}},
               "required": ["headline", "claims", "cta"]}
    return {"type": "object", "title": "Variants",
            "properties": {"variants": {"type": "array", "minItems": 1,
                                        "maxItems": max(1, min(n_variants, MAX_VARIANTS)),
                                        "items": variant}},
            "required": ["variants"]}


def repair_schema(ids: Iterable[str], count: int) -> dict[str, Any]:
    """The JSON schema of a repair answer: exactly `count` replacement claims, in order."""
    return {"type": "object", "title": "Claims",
            "properties": {"claims": {"type": "array", "minItems": count, "maxItems": count,
                                      "items": _claim_item(ids)}},
            "required": ["claims"]}


def schema_format(mode: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """`schema` as the `response_format` of a backend's structured mode (None for function
    calling, where the prompt and the tolerant parser carry the shape)."""
    if mode == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": schema["title"], "schema": schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _copy_draft(value: Any) -> CopyDraft | None:
    """A variant from one parsed JSON object (None when it has neither headline nor body)."""
    if not isinstance(value, dict):
        return None
    headline, cta = _text(value.get("headline")), _text(value.get("cta"))
    raw = value.get("claims")
    claims = [d for d in (claim_draft(c) for c in raw) if d is not None] if isinstance(
        raw, list) else []
    if not claims and _text(value.get("body")):
        claims = tagged_claims(_text(value.get("body")))
    if not headline and not claims:
        return None
    return CopyDraft(headline, claims, cta)


def parse_copy(raw: str) -> list[CopyDraft]:
    """The variants of a model answer (whole, fenced or truncated JSON); [] when none can be
    read."""
    text = strip_fences(raw)
    try:
        value = json.loads(text)
        items = value.get("variants", []) if isinstance(value, dict) else value
    except json.JSONDecodeError:
        items = json_objects(text, "variants") if '"variants"' in text else []
    if not isinstance(items, list):
        return []
    return [d for d in (_copy_draft(v) for v in items[:MAX_VARIANTS * 2]) if d is not None]
