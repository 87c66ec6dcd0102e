"""Names and descriptions for the predictors' segments: a short name and claims from computed
facts.

The predictors publish a `segments` table (one row of computed facts per segment and source).
For each row the LLM proposes a short name and 1–3 claims describing the segment, each citing
the facts it rests on: what sets the segment apart (`segment_traits.contrasts`: its facts
against all users of the source), its size and what it shops for. The name is checked on its
own (`check_proposal`: numbers, personal attributes, inverted behaviours, a name another
segment has); each claim is verified on its own (`segment_claims`: numbers bound to the cited
contrast, nothing about a behaviour the segment has none of, no missing value written as a
thing), and refused claims are dropped. With no usable name or no verified claim the request
is sent again once, naming what was wrong; a name is computed from the strongest contrast
("Recently active", or "Segment N" when nothing stands out) only when no proposed name passes,
and the description falls back to the contrasts as cited claims when no claim passes (status
`fallback`). The results go to the derived workspace table `segment_names` (one partition per
source), with the prompt ref, model and status of each row. Without a `segments` table the tool
says so and does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from langchain_core.messages.utils import convert_to_messages
from pydantic import BaseModel, ConfigDict, Field

from assistant.claims.copy import schema_format
from assistant.claims.named import MAX_DESCRIPTION_CLAIMS, named_schema, parse_named
from assistant.claims.render import Rendered, badge, dedupe, plain_text, render_claims
from assistant.claims.verify import Verdict, verify_claims
from assistant.claims.wording import vacuous
from assistant.grounding import Violation, check_numbers, check_personal
from assistant.llm.backends import LLMBackend
from assistant.tools.generation import generate
from assistant.tools.narrate import retry_messages
from assistant.tools.segment_claims import (
    CONTEXT_FACTS,
    description_check,
    fact_lines,
    fallback_claims,
    segment_evidence,
)
from assistant.tools.segment_traits import (
    Contrast,
    contrasts,
    direction_errors,
    overall_values,
    trait_name,
)
from assistant.tools.trace import ToolRun
from prompts import load_prompt
from store.queries import table_exists
from store.workspace import Workspace

log = logging.getLogger(__name__)

PROMPT = "segment_name"
NAME_MAX_TOKENS = 220
SOURCE_TABLE = "segments"
TABLE = "segment_names"
SCHEMA = pa.schema([("source", pa.string()), ("segment", pa.int64()), ("name", pa.string()),
                    ("description", pa.string()), ("status", pa.string()),
                    ("prompt_ref", pa.string()), ("model", pa.string()),
                    ("generated_at", pa.timestamp("us", tz="UTC"))])


class SegmentName(BaseModel):
    """The LLM's proposal for one segment."""

    # no schema description: small models copy it into their answer
    model_config = ConfigDict(json_schema_extra=lambda schema: schema.pop("description", None))

    name: str = Field(min_length=2, max_length=60)
    description: str = Field(min_length=5, max_length=400)


@dataclass
class SegmentNamesResult:
    """What was written (or why nothing was)."""

    rows: list[dict[str, Any]]
    run: ToolRun
    skipped: str | None = None
    published: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"rows": self.rows, "skipped": self.skipped, "published": self.published,
                **self.run.to_dict()}


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 3)
    if isinstance(value, list):
        parts = [str(v.get("value", v)) if isinstance(v, dict) else str(v) for v in value[:3]]
        return ", ".join(parts) or None
    if hasattr(value, "tolist"):
        return _short(value.tolist())
    return value


def segment_facts(row: dict[str, Any]) -> dict[str, Any]:
    """The non-empty facts of one `segments` row, lists shortened to their first values."""
    return {k: v for k, v in ((k, _short(v)) for k, v in row.items()
                              if k not in ("source", "segment")) if v not in (None, "")}


def fallback_name(segment: int, facts: dict[str, Any], found: list[Contrast],
                  taken: set[str]) -> SegmentName:
    """A name from the segment's strongest contrast (or "Segment N") and a description that
    states the contrasts (or the first facts), all computed."""
    typical = not found and float(facts.get("share_of_users") or 0) >= 0.5
    name = trait_name(found, taken) or ("Typical shoppers" if typical and "typical shoppers"
                                        not in taken else f"Segment {segment}")
    if found:
        description = "Differs most in " + "; ".join(c.phrase() for c in found[:3]) + "."
    elif typical:
        description = (f"Most users ({facts['share_of_users']} of them), close to the source's "
                       "average in every measured behaviour.")
    else:
        bits = [f"{k.replace('_', ' ')} {facts[k]}" for k in list(facts)[:3]]
        description = ("Computed facts: " + "; ".join(bits) + ".") if bits else (
            "No computed facts.")
    return SegmentName(name=name[:60], description=description[:400])


def check_proposal(proposal: SegmentName, evidence: Any, segment: int, taken: set[str],
                   facts: dict[str, Any], overall: dict[str, float]) -> list[Violation]:
    """Numbers not in the evidence, personal attributes, behaviours called high that are low
    (or the reverse), and a name another segment has."""
    text = f"{proposal.name}. {proposal.description}"
    problems = check_numbers(text, evidence, segment) + check_personal(text)
    problems += [Violation("direction", proposal.name, message)
                 for message in direction_errors(text, facts, overall)]
    if proposal.name.strip().lower() in taken:
        problems.append(Violation("name", proposal.name, f"the name '{proposal.name}' is "
                                  "already used for another segment; choose a name for what "
                                  "sets this one apart"))
    return problems


@dataclass
class Named:
    """One segment's name, its description as verified claims, and how they were obtained."""

    name: str
    status: str
    name_source: str
    claims: list[Verdict]
    rendered: Rendered
    proposed: list[Verdict] = field(default_factory=list)

    @property
    def description(self) -> str:
        """The description as stored: the claims as plain sentences."""
        return plain_text(self.rendered.text)

    def fields(self) -> dict[str, Any]:
        """The per-segment fields of `--json`: status, text (as shown), badge, claims."""
        verified = sum(c.verified for c in self.proposed)
        shown = badge(verified, len(self.proposed))
        return {"status": self.status, "name_source": self.name_source,
                "text": self.rendered.text, "sources": self.rendered.sources,
                "badge": shown if self.status != "fallback" else f"facts only ({shown} by the "
                "model)", "claims": [c.to_dict() for c in self.proposed]}


def _name_problems(name: str, segment: int, taken: set[str], facts: dict[str, Any],
                   overall: dict[str, float]) -> list[Violation]:
    """`check_proposal` on the name alone, plus its length (a short phrase)."""
    if not 2 <= len(name) <= 60 or len(name.split()) > 6 or vacuous(name, 1):
        return [Violation("name", name, "the name must be a short phrase of 2 to 4 words")]
    proposal = SegmentName.model_construct(name=name, description="")
    return check_proposal(proposal, {"facts": facts}, segment, taken, facts, overall)


def _name_one(backend: LLMBackend, source: str, segment: int, facts: dict[str, Any],
              overall: dict[str, float], taken: set[str]) -> Named:
    found = contrasts(facts, overall)
    evidence = segment_evidence(segment, source, facts, found)
    prompt = load_prompt(PROMPT)
    context = {k: facts[k] for k in CONTEXT_FACTS if k in facts}
    messages: list[Any] = convert_to_messages(prompt.render(
        segment=segment, source=source, facts=fact_lines(evidence),
        shops_for="cite F:top_categories / F:top_brands" if context else
        "no category or brand data: do not write about what they shop for",
        suggested=fallback_name(segment, facts, found, taken).name,
        taken=", ".join(sorted(taken)) or "none"))
    shape = schema_format(str(getattr(backend, "structured_mode", "")),
                          named_schema(evidence.ids()))
    extra = description_check(facts, overall)
    name, proposed = "", []
    for attempt in (1, 2):
        raw = generate(backend, messages, max_tokens=NAME_MAX_TOKENS,
                       extra_body={"response_format": shape} if shape else None)
        draft_name, drafts = parse_named(raw)
        verdicts = verify_claims(drafts, evidence, extra)
        proposed += verdicts
        problems = _name_problems(draft_name, segment, taken, facts, overall)
        if not name and not problems:
            name = draft_name
        kept = dedupe([v for v in proposed if v.verified])[:MAX_DESCRIPTION_CLAIMS]
        if name and kept:
            status = "ok" if attempt == 1 and all(v.verified for v in proposed) else "partial"
            return Named(name, status, "model", kept, render_claims(kept, evidence), proposed)
        feedback = problems + [Violation("claim", "", f"{v.text[:80]!r}: {r}")
                               for v in verdicts if not v.verified for r in v.reasons]
        if not verdicts:
            feedback.append(Violation("claim", "", "give 1 to 3 claims that cite the facts"))
        log.info("segment %s/%s rejected (attempt %d): %s", source, segment, attempt,
                 "; ".join(p.message for p in feedback)[:300])
        messages = retry_messages(messages, feedback[:6])
    computed = fallback_name(segment, facts, found, taken)
    template = [v for v in verify_claims(fallback_claims(found, facts), evidence) if v.verified]
    kept = dedupe([v for v in proposed if v.verified])[:MAX_DESCRIPTION_CLAIMS]
    if name:  # the model's name passed, none of its claims did: computed description
        return Named(name, "fallback", "model", template, render_claims(template, evidence),
                     proposed)
    return Named(computed.name, "fallback", "computed", kept or template,
                 render_claims(kept or template, evidence), proposed)


def name_segments(workspace: Path, backend: LLMBackend,
                  sources: list[str] | None = None) -> SegmentNamesResult:
    """Name every segment (of `sources`, default all) and publish `segment_names`."""
    run = ToolRun(tool="segment_names", model=backend.model)
    ws = Workspace.open(workspace)
    con = ws.connect()
    try:
        if not table_exists(con, SOURCE_TABLE):
            run.finish()
            return SegmentNamesResult([], run, skipped="the predictors have not published a "
                                      "`segments` table yet (train with segments and score "
                                      "first); nothing was named")
        frame = con.execute(f"SELECT * FROM {SOURCE_TABLE}").df()
    finally:
        con.close()
    if "source" not in frame.columns:
        frame["source"] = "all"
    if sources:
        frame = frame[frame["source"].isin(sources)]
    prompt_ref = load_prompt(PROMPT).ref
    run.use_prompt(prompt_ref)
    rows: list[dict[str, Any]] = []
    now = dt.datetime.now(dt.UTC)
    records = frame.sort_values(["source", "segment"]).to_dict("records")
    overall = {source: overall_values([r for r in records if r["source"] == source])
               for source in {str(r["source"]) for r in records}}
    taken: dict[str, set[str]] = {}
    details: list[dict[str, Any]] = []
    for record in records:
        source, segment = str(record["source"]), int(record["segment"])
        facts = segment_facts(record)
        names = taken.setdefault(source, set())
        with run.step(f"name {source} segment {segment}") as step:
            named = _name_one(backend, source, segment, facts, overall[source], names)
            step.status = "fallback" if named.status == "fallback" else "ok"
            step.detail = f"{named.name} ({named.name_source} name, {len(named.claims)} claims)"
        names.add(named.name.strip().lower())
        rows.append({"source": source, "segment": segment, "name": named.name,
                     "description": named.description, "status": named.status,
                     "prompt_ref": prompt_ref, "model": backend.model, "generated_at": now})
        details.append(named.fields())
    published: list[str] = []
    for source in sorted({r["source"] for r in rows}):
        part = [r for r in rows if r["source"] == source]
        ws.write_derived(TABLE, pa.Table.from_pylist(part, schema=SCHEMA),
                         {"segments": len(part), "prompt": prompt_ref, "model": backend.model},
                         partition=source)
        published.append(source)
    run.finish()
    return SegmentNamesResult([{**r, "generated_at": now.isoformat(), **d}
                               for r, d in zip(rows, details, strict=True)], run,
                              published=published)
