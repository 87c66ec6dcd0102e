"""Names and descriptions for the predictors' segments, written by the LLM from computed facts.

The predictors publish a `segments` table (one row of computed facts per segment and source).
For each row the LLM proposes a short name and a 1–2 sentence description (JSON) from the facts
and from what sets the segment apart (`segment_traits.contrasts`: its facts against all users
of the source). Numbers must be in the facts, demographic words are rejected and a name may not
repeat another segment's, with one retry; otherwise a computed name from the strongest contrast
("Recently active", or "Segment N" when nothing stands out) and a description of the contrasts
are stored. The results go to
the derived workspace table `segment_names` (one partition per source), with the prompt ref,
model and status of each row. Without a `segments` table the tool says so and does nothing.
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

from assistant.grounding import Violation, check_numbers, check_personal
from assistant.llm.backends import LLMBackend
from assistant.llm.errors import StructuredOutputError
from assistant.llm.structured import structured
from assistant.tools.narrate import retry_messages
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
SIZE_FACTS = ("n_users", "share_of_users")
CONTEXT_FACTS = ("top_categories", "top_brands")
"""Besides the contrasts, the prompt shows the segment's size and what it shops for: every
other fact is a mean the model tends to misread, and each prompt token costs time on a CPU."""
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


def _plain(facts: dict[str, Any]) -> str:
    return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in facts.items())


def _name_one(backend: LLMBackend, source: str, segment: int, facts: dict[str, Any],
              overall: dict[str, float], taken: set[str]) -> tuple[SegmentName, str]:
    found = contrasts(facts, overall)
    prompt = load_prompt(PROMPT)
    distinctive = "\n".join(f"- {c.phrase()}" for c in found) or "- (close to the average)"
    size = {k: facts[k] for k in SIZE_FACTS if k in facts}
    context = {k: facts[k] for k in CONTEXT_FACTS if k in facts}
    messages: list[Any] = prompt.render(
        segment=segment, source=source, size=_plain(size), distinctive=distinctive,
        facts=_plain(context) or "(none)",
        suggested=fallback_name(segment, facts, found, taken).name,
        taken=", ".join(sorted(taken)) or "none")
    evidence = {"facts": facts, "distinctive": distinctive}
    for attempt in (1, 2):
        try:
            proposal = structured(backend, messages, SegmentName)
        except StructuredOutputError as exc:
            log.warning("segment %s/%s: %s", source, segment, exc)
            break
        problems = check_proposal(proposal, evidence, segment, taken, facts, overall)
        if not problems:
            return proposal, "ok" if attempt == 1 else "retried"
        feedback = "; ".join(p.message for p in problems)
        log.info("segment %s/%s rejected (attempt %d): %s", source, segment, attempt, feedback)
        messages = retry_messages(convert_to_messages(messages), problems)
    return fallback_name(segment, facts, found, taken), "fallback"


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
    for record in records:
        source, segment = str(record["source"]), int(record["segment"])
        facts = segment_facts(record)
        names = taken.setdefault(source, set())
        with run.step(f"name {source} segment {segment}") as step:
            proposal, status = _name_one(backend, source, segment, facts, overall[source], names)
            step.status = "fallback" if status == "fallback" else "ok"
            step.detail = proposal.name
        names.add(proposal.name.strip().lower())
        rows.append({"source": source, "segment": segment, "name": proposal.name,
                     "description": proposal.description, "status": status,
                     "prompt_ref": prompt_ref, "model": backend.model, "generated_at": now})
    published: list[str] = []
    for source in sorted({r["source"] for r in rows}):
        part = [r for r in rows if r["source"] == source]
        ws.write_derived(TABLE, pa.Table.from_pylist(part, schema=SCHEMA),
                         {"segments": len(part), "prompt": prompt_ref, "model": backend.model},
                         partition=source)
        published.append(source)
    run.finish()
    return SegmentNamesResult([{**r, "generated_at": now.isoformat()} for r in rows], run,
                              published=published)
