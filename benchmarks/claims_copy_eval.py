"""Claim-level copy and segment names with the real embedded model (the copy modes of
`benchmarks.claims_eval`).

Copy: `n` requests, targets taking turns over the sources with reviews (a scored reviewer, then
a segment, …) and channels (email, push, banner), each about one of the source's most reviewed
items. Per request: status, time, every variant with its claims' verdicts; independently of the
tool, every shown variant is re-checked with the copy guardrails (`check_variant`: numbers in
the facts, no invented promotions, voice, sensitive words, channel lengths) and its numbers with
the grounding check. A fallback counts as a failure: its template variant is not a requested
variant passing the guardrails.

Segment names: `name_segments` on a workspace built like `make demo` (`insight sample`, `insight
train --quick` per source, `insight score`); per segment: status, whether the name was computed,
claims verified / proposed, numbers of the name and description against the segment's facts.

Segments are named first (one short call each), then the copy requests run. Report:
`benchmarks/results/claims_eval_copy.json`, rewritten after every copy call.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.claims_eval import status_figures
from benchmarks.machine import REPO_ROOT, describe_machine

OUT = REPO_ROOT / "benchmarks" / "results" / "claims_eval_copy.json"
CHANNELS = ("email", "push", "banner")
ITEMS_PER_SOURCE = 3


def copy_requests(con: Any, n: int, sources: list[str] | None, offset: int = 0
                  ) -> list[dict[str, Any]]:
    """`n` deterministic requests: per source with reviews and scores, targets alternate
    between its most active scored reviewers and its segments, channels cycle, items rotate
    over its most reviewed items; sources take turns. `offset` skips that many reviewers and
    items of each source (a fresh set of requests; segments and channels shift too)."""
    rows = con.execute(
        "SELECT DISTINCT r.source FROM reviews r JOIN user_scores s USING (source) WHERE "
        "(? IS NULL OR list_contains(?, r.source)) ORDER BY 1", [sources, sources]).fetchall()
    plans: dict[str, list[dict[str, Any]]] = {}
    for (source,) in rows:
        users = [r[0] for r in con.execute(
            "SELECT r.user_id FROM reviews r JOIN user_scores s ON s.source = r.source AND "
            "s.user_id = r.user_id WHERE r.source = ? GROUP BY 1 ORDER BY count(*) DESC, 1 "
            "LIMIT ? OFFSET ?", [source, n, offset]).fetchall()]
        segments = [r[0] for r in con.execute(
            "SELECT segment FROM user_scores WHERE source = ? AND segment IS NOT NULL GROUP BY 1 "
            "ORDER BY count(*) DESC, 1", [source]).fetchall()]
        items = [r[0] for r in con.execute(
            "SELECT item_id FROM reviews WHERE source = ? GROUP BY 1 ORDER BY count(*) DESC, 1 "
            "LIMIT ? OFFSET ?", [source, ITEMS_PER_SOURCE, offset]).fetchall()]
        plan = []
        for i in range(n):
            target = ({"user_id": users[i // 2 % len(users)]} if i % 2 == 0 or not segments
                      else {"segment": int(segments[(i + offset) // 2 % len(segments)])})
            plan.append({"source": source, "item_id": items[i % len(items)],
                         "channel": CHANNELS[(i + offset) % len(CHANNELS)], **target})
        plans[source] = plan
    picked: list[dict[str, Any]] = []
    turn = 0
    while len(picked) < n and plans:
        for plan in plans.values():
            if len(picked) < n and turn < len(plan):
                picked.append(plan[turn])
        turn += 1
    return picked


def run_copy(request: dict[str, Any], con: Any, backend: Any, n_variants: int
             ) -> dict[str, Any]:
    """One copy request, timed, with the independent re-checks of every shown variant."""
    from assistant.grounding import check_numbers
    from assistant.tools.marketing import CopyResult, Variant, check_variant, marketing_copy

    started = time.perf_counter()
    result: CopyResult = marketing_copy(
        request["item_id"], con=con, backend=backend, user_id=request.get("user_id"),
        segment=request.get("segment"), source=request["source"], channel=request["channel"],
        n_variants=n_variants)
    seconds = time.perf_counter() - started
    facts_text = json.dumps(result.item, default=str) + json.dumps(result.audience, default=str)
    facts = {"item": result.item, "audience": result.audience}
    checked = []
    for v in result.variants:
        problems = check_variant(Variant(headline=v["headline"], body=v["body"]),
                                 result.channel, facts_text, facts)
        numbers = check_numbers(f"{v['headline']}\n{v['body']}", facts)
        checked.append({"guardrail_problems": [p.message for p in problems],
                        "numbers_grounded": not numbers})
    claims = [c for r in result.rejected for c in r.get("claims", [])]
    if result.status != "fallback":  # the template's claims are not the model's
        claims += [c for v in result.variants for c in v.get("claims", [])]
    return {"tool": "copy", **request, "status": result.status, "text": result.text,
            "badge": result.badge, "seconds": round(seconds, 2),
            "load_1m": round(os.getloadavg()[0], 2), "first_token_s": result.run.first_token_s,
            "variants_requested": n_variants,
            "variants_shown": len(result.variants) if result.status != "fallback" else 0,
            "variants_passing": sum(not c["guardrail_problems"] for c in checked)
            if result.status != "fallback" else 0,
            "numbers_grounded": all(c["numbers_grounded"] for c in checked),
            "claims_proposed": len(claims), "claims_verified": sum(c["verified"] for c in claims),
            "variants": result.variants, "checks": checked, "rejected": result.rejected,
            "evidence": result.evidence, "steps": [s.__dict__ for s in result.run.steps],
            "notice": result.notice}


def run_segments(root: Path, backend: Any) -> list[dict[str, Any]]:
    """Name every segment of the workspace; one record per segment."""
    from assistant.grounding import check_numbers
    from assistant.tools.segments import name_segments
    from store.workspace import Workspace

    result = name_segments(root, backend)
    con = Workspace.open(root).connect()
    try:
        frame = con.execute("SELECT * FROM segments").df()
    finally:
        con.close()
    seconds = {s.title: s.duration_s for s in result.run.steps}
    records = []
    for row in result.rows:
        facts = frame[(frame["source"] == row["source"]) & (frame["segment"] == row["segment"])]
        evidence = [facts.to_dict("records"), [s.get("value") for s in row["sources"]]]
        numbers = check_numbers(f"{row['name']}. {row['description']}", *evidence)
        claims = row["claims"]
        records.append({"tool": "segment_names", "source": row["source"],
                        "segment": row["segment"], "name": row["name"],
                        "name_source": row["name_source"], "status": row["status"],
                        "text": row["text"], "badge": row["badge"],
                        "seconds": seconds.get(f"name {row['source']} segment "
                                               f"{row['segment']}"),
                        "load_1m": round(os.getloadavg()[0], 2),
                        "numbers_grounded": not numbers,
                        "claims_proposed": len(claims),
                        "claims_verified": sum(c["verified"] for c in claims), "claims": claims})
    return records


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per tool: fallback / partial rates, claims verified of proposed, numeric faithfulness,
    guardrail pass share of requested variants (copy), computed names (segments), time."""
    out: dict[str, Any] = {}
    for tool in dict.fromkeys(r["tool"] for r in records):
        mine = [r for r in records if r["tool"] == tool]
        n = len(mine)
        times = [r["seconds"] for r in mine if r["seconds"] is not None]
        entry: dict[str, Any] = {
            **status_figures(mine, "claims_verified_share"),
            "numeric_faithfulness": round(sum(r["numbers_grounded"] for r in mine) / n, 3),
            "median_seconds": round(statistics.median(times), 2) if times else None,
            "max_seconds": max(times) if times else None}
        if tool == "copy":
            requested = sum(r["variants_requested"] for r in mine)
            entry.update(variants_requested=requested,
                         variants_passing_every_guardrail=sum(r["variants_passing"]
                                                              for r in mine),
                         guardrail_pass_share=round(sum(r["variants_passing"] for r in mine)
                                                    / requested, 3),
                         channels={c: sum(r["channel"] == c for r in mine) for c in CHANNELS},
                         sources=sorted({r["source"] for r in mine}),
                         targets={"users": sum("user_id" in r for r in mine),
                                  "segments": sum("segment" in r for r in mine)})
        else:
            entry.update(names_computed=sum(r["name_source"] == "computed" for r in mine))
        out[tool] = entry
    return out


def run_copy_eval(workspace: Path, n_copy: int, n_variants: int, sources: list[str] | None,
                  segments_workspace: Path | None, out: Path | None, offset: int = 0
                  ) -> dict[str, Any]:
    """Run the copy requests and the segment naming with one embedded server; write the
    report after every call."""
    from assistant.llm.backends import EmbeddedBackend
    from core.settings import get_settings
    from store.workspace import Workspace

    out = out or OUT
    settings = get_settings().llm
    con = Workspace.open(workspace).connect()
    requests = copy_requests(con, n_copy, sources, offset) if n_copy else []
    records: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    out.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        nonlocal report
        report = {"benchmark": "claims_eval_copy",
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "workspace": str(workspace), "segments_workspace": str(segments_workspace),
                  "copy_requests_planned": len(requests), "variants_per_request": n_variants,
                  "offset": offset,
                  "llm": {"model": settings.embedded.model_alias,
                          "n_threads": settings.embedded.n_threads},
                  "machine": describe_machine(),
                  "load_average_1m_at_each_call": [r["load_1m"] for r in records],
                  "summary": summarise(records) if records else {}, "records": records}
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
        tmp.replace(out)

    with EmbeddedBackend(settings, progress=False) as backend:
        if segments_workspace is not None:  # first: one short call per segment
            for record in run_segments(segments_workspace, backend):
                print(f"segment {record['source']}/{record['segment']}: {record['name']!r} "
                      f"{record['status']} ({record['name_source']})", flush=True)
                records.append(record)
            write()
        for request in requests:
            record = run_copy(request, con, backend, n_variants)
            print(f"copy {request['source']}/{request.get('user_id', request.get('segment'))} "
                  f"{request['channel']}: {record['status']:8s} {record['badge']} "
                  f"({record['seconds']:.1f}s)", flush=True)
            records.append(record)
            write()
        con.close()
    print(json.dumps(report.get("summary"), indent=2))
    return report
