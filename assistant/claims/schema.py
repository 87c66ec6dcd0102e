"""What a claim is, the JSON schema the model answers in, and the parser of its answer.

The model answers `{"claims": [{"evidence": ["F:reviews_written"], "kind": "fact",
"text": "…"}]}`. The schema is built per request: `evidence` may only name the ids of this
request, so a grammar-constrained server (llama.cpp) cannot even write a foreign id; other
servers may, and the verifier refuses it. The parser is tolerant: an answer cut off by the
token limit keeps its complete claims, and a prose answer with `[F:key]` tags (a backend
without structured output, or a code-built template) becomes one claim per sentence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

ClaimKind = Literal["fact", "score", "review", "suggestion"]
KINDS: tuple[str, ...] = get_args(ClaimKind)
MAX_CLAIMS = 6
MAX_EVIDENCE = 3
ID_KINDS = {"F": "fact", "R": "review", "I": "item", "U": "user", "S": "segment"}
TAG = re.compile(r"\[\s*(R|I|F|U|S)\s*:\s*([^\]\s,;]{1,80})\s*\]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass
class ClaimDraft:
    """One claim as proposed: its text, the evidence ids it rests on, and its kind."""

    text: str
    evidence: list[str] = field(default_factory=list)
    kind: str = "fact"


def claims_schema(ids: Iterable[str]) -> dict[str, Any]:
    """The JSON schema of an answer whose evidence may only be one of `ids` ("F:key",
    "R:id", …); evidence comes first so the model commits to a fact before writing about it."""
    allowed = sorted(set(ids))
    evidence: dict[str, Any] = {"type": "array", "minItems": 1, "maxItems": MAX_EVIDENCE,
                                "items": {"type": "string", "enum": allowed} if allowed
                                else {"type": "string"}}
    claim = {"type": "object",
             "properties": {"evidence": evidence, "kind": {"type": "string", "enum": list(KINDS)},
                            "text": {"type": "string"}},
             "required": ["evidence", "kind", "text"]}
    return {"type": "object", "title": "Claims",
            "properties": {"claims": {"type": "array", "minItems": 1, "maxItems": MAX_CLAIMS,
                                      "items": claim}},
            "required": ["claims"]}


def response_format(mode: str, ids: Iterable[str]) -> dict[str, Any] | None:
    """The `response_format` request field for a backend's structured mode, or None where the
    mode has none (function calling: the prompt and the tolerant parser carry the shape)."""
    schema = claims_schema(ids)
    if mode == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": "Claims", "schema": schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def claim_draft(value: Any) -> ClaimDraft | None:
    """A draft from one parsed JSON object (None when it has no text)."""
    if not isinstance(value, dict):
        return None
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    raw = value.get("evidence") or []
    evidence = [str(e) for e in (raw if isinstance(raw, list) else [raw])][:MAX_EVIDENCE * 2]
    kind = str(value.get("kind") or "fact").lower()
    return ClaimDraft(text.strip(), evidence, kind if kind in KINDS else "fact")


def json_objects(text: str, key: str = "claims") -> list[Any]:
    """Every complete JSON object in the `key` array of `text`, also when the answer was
    cut off in the middle of a later one."""
    start = text.find("[", text.find(f'"{key}"') if f'"{key}"' in text else 0)
    if start < 0:
        return []
    decoder = json.JSONDecoder()
    found, pos = [], start + 1
    while pos < len(text):
        brace = text.find("{", pos)
        if brace < 0:
            break
        try:
            value, end = decoder.raw_decode(text, brace)
        except json.JSONDecodeError:
            break
        found.append(value)
        pos = end
    return found


def tagged_claims(text: str, kind: str = "fact") -> list[ClaimDraft]:
    """Prose with `[F:key]` / `[R:id]` tags as one claim per sentence, the tags of a sentence
    as its evidence (the form of the code-built templates and of a non-JSON answer)."""
    drafts = []
    for sentence in SENTENCE_END.split(text.strip()):
        evidence = [f"{k}:{ident}" for k, ident in TAG.findall(sentence)]
        body = re.sub(r"\s+([.,;:!?])", r"\1", TAG.sub("", sentence))
        body = re.sub(r"\s{2,}", " ", body).strip()
        if body.strip(" .!?"):
            drafts.append(ClaimDraft(body, list(dict.fromkeys(evidence)), kind))
    return drafts


def strip_fences(raw: str) -> str:
    """An answer without the Markdown code fence a model may wrap its JSON in."""
    text = raw.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0].strip()
    return text


def parse_answer(raw: str) -> list[ClaimDraft]:
    """The claims of a model answer: JSON (whole, fenced or truncated), else tagged prose."""
    text = strip_fences(raw)
    if text.startswith("{") or text.startswith("["):
        try:
            value = json.loads(text)
            items = value.get("claims", []) if isinstance(value, dict) else value
        except json.JSONDecodeError:
            items = json_objects(text)
        if not isinstance(items, list):
            items = []
        return [d for d in (claim_draft(v) for v in items[:MAX_CLAIMS * 2]) if d is not None]
    return tagged_claims(text)


def split_id(ident: str) -> tuple[str | None, str]:
    """("F", "events") from "F:events", "[F:events]" or "F: events"; (None, "abc") for a bare
    id, whose kind the verifier looks up."""
    cleaned = ident.strip().strip("[]").strip()
    match = re.fullmatch(r"(R|I|F|U|S)\s*:\s*(\S{1,80})", cleaned)
    if match:
        return match.group(1), match.group(2)
    return None, cleaned
