"""Names and descriptions for the predictors' segments, written by the LLM from computed facts.

The predictors publish a `segments` table (one row of computed facts per segment and source).
For each row the LLM proposes a short name and a 1–2 sentence description (JSON); numbers in
the description must be in the facts and demographic words are rejected, with one retry,
otherwise a plain "Segment N" name and a facts-only description are stored. The results go to
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
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from assistant.analytics.executor import has_table
from assistant.grounding import check_numbers, check_personal
from assistant.llm.backends import LLMBackend
from assistant.llm.errors import StructuredOutputError
from assistant.llm.structured import structured
from assistant.prompts import load_prompt
from assistant.tools.evidence import fact_block
from assistant.tools.trace import ToolRun
from predictors.data.workspace import Workspace

log = logging.getLogger(__name__)

PROMPT = "segment_name"
SOURCE_TABLE = "segments"
TABLE = "segment_names"
SCHEMA = pa.schema([("source", pa.string()), ("segment", pa.int64()), ("name", pa.string()),
                    ("description", pa.string()), ("status", pa.string()),
                    ("prompt_ref", pa.string()), ("model", pa.string()),
                    ("generated_at", pa.timestamp("us", tz="UTC"))])


class SegmentName(BaseModel):
    """The LLM's proposal for one segment."""

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


def fallback_name(segment: int, facts: dict[str, Any]) -> SegmentName:
    """A plain name and a description built from the facts alone."""
    bits = [f"{k.replace('_', ' ')} {facts[k]}" for k in list(facts)[:3]]
    return SegmentName(name=f"Segment {segment}",
                       description=("Computed facts: " + "; ".join(bits) + ".") if bits else
                       "No computed facts.")


def _name_one(backend: LLMBackend, source: str, segment: int, facts: dict[str, Any],
              run: ToolRun) -> tuple[SegmentName, str]:
    prompt = load_prompt(PROMPT)
    messages: list[Any] = prompt.render(segment=segment, source=source,
                                        facts=fact_block(facts))
    for attempt in (1, 2):
        try:
            proposal = structured(backend, messages, SegmentName)
        except StructuredOutputError as exc:
            log.warning("segment %s/%s: %s", source, segment, exc)
            break
        text = f"{proposal.name}. {proposal.description}"
        problems = check_numbers(text, facts, segment) + check_personal(text)
        if not problems:
            return proposal, "ok" if attempt == 1 else "retried"
        feedback = "; ".join(p.message for p in problems)
        messages = [*messages, ("assistant", proposal.model_dump_json()),
                    ("user", f"That broke the rules: {feedback}. Reply with corrected JSON.")]
    return fallback_name(segment, facts), "fallback"


def name_segments(workspace: Path, backend: LLMBackend,
                  sources: list[str] | None = None) -> SegmentNamesResult:
    """Name every segment (of `sources`, default all) and publish `segment_names`."""
    run = ToolRun(tool="segment_names", model=backend.model)
    ws = Workspace.open(workspace)
    con = ws.connect()
    try:
        if not has_table(con, SOURCE_TABLE):
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
    for record in frame.sort_values(["source", "segment"]).to_dict("records"):
        source, segment = str(record["source"]), int(record["segment"])
        facts = segment_facts(record)
        with run.step(f"name {source} segment {segment}") as step:
            proposal, status = _name_one(backend, source, segment, facts, run)
            step.status = "fallback" if status == "fallback" else "ok"
            step.detail = proposal.name
        rows.append({"source": source, "segment": segment, "name": proposal.name,
                     "description": proposal.description, "status": status,
                     "prompt_ref": prompt_ref, "model": backend.model, "generated_at": now})
    published: list[str] = []
    with ws.lock():
        ws.reload()
        for source in sorted({r["source"] for r in rows}):
            part = [r for r in rows if r["source"] == source]
            batch = ws.new_batch()
            name = f"{TABLE}-00000.parquet"
            pq.write_table(pa.Table.from_pylist(part, schema=SCHEMA), batch.staging_dir / name)
            batch.files[TABLE] = [name]
            ws.publish_derived(TABLE, batch, {"segments": len(part), "prompt": prompt_ref,
                                              "model": backend.model}, partition=source)
            published.append(source)
    run.finish()
    return SegmentNamesResult([{**r, "generated_at": now.isoformat()} for r in rows], run,
                              published=published)
