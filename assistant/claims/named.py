"""A short name plus claims: the answer shape of segment naming.

The model answers `{"name": "Frequent cart builders", "claims": [{"evidence":
["F:mean_share_cart"], "kind": "fact", "text": "…"}]}`; the name is a phrase checked on its
own, the claims are the description, each verified (`assistant.claims.verify`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from assistant.claims.schema import (
    ClaimDraft,
    claim_draft,
    claims_schema,
    parse_answer,
    strip_fences,
)

MAX_DESCRIPTION_CLAIMS = 3


def named_schema(ids: Iterable[str]) -> dict[str, Any]:
    """The JSON schema of a name and 1 to `MAX_DESCRIPTION_CLAIMS` claims citing only
    `ids`."""
    claims = claims_schema(ids)["properties"]["claims"]
    return {"type": "object", "title": "NamedClaims",
            "properties": {"name": {"type": "string"},
                           "claims": {**claims, "maxItems": MAX_DESCRIPTION_CLAIMS}},
            "required": ["name", "claims"]}


def parse_named(raw: str) -> tuple[str, list[ClaimDraft]]:
    """The name and claims of an answer ("" and the claims the tolerant claims parser finds
    when the JSON is cut off or malformed); an old-style `description` becomes tagged
    claims."""
    text = strip_fences(raw)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return "", parse_answer(text) if text.startswith("{") else []
    if not isinstance(value, dict):
        return "", []
    name = value.get("name") if isinstance(value.get("name"), str) else ""
    raw_claims = value.get("claims")
    claims = ([d for d in (claim_draft(c) for c in raw_claims) if d is not None]
              if isinstance(raw_claims, list) else [])
    if not claims and isinstance(value.get("description"), str):
        claims = parse_answer(value["description"])
    return name.strip(), claims
