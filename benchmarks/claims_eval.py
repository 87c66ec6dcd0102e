"""Claim-level prose with the real embedded model: fallback and partial rates, claims kept of
claims proposed, time to a full answer, per tool.

Runs `user_summary` and `persona` (and `explain` with `--explain`) on the most active
reviewers of a workspace (sources with reviews and model scores), one embedded llama.cpp
server for the whole run, and writes `benchmarks/results/claims_eval.json`: per-tool figures
beside every record (status, text, badge, per-claim verdicts, seconds). A fallback counts as a
failure; nothing is retried beyond what the tools do themselves.

    .venv/bin/python -m benchmarks.claims_eval --workspace /tmp/claims_ws --users 10

With `--copy N` (and `--segments-workspace`) it runs the copy and segment-naming modes instead
(`benchmarks.claims_copy_eval`, report `benchmarks/results/claims_eval_copy.json`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import REPO_ROOT, describe_machine

log = logging.getLogger(__name__)

OUT = REPO_ROOT / "benchmarks" / "results" / "claims_eval.json"


def pick_users(con: Any, n: int, sources: list[str] | None, offset: int = 0
               ) -> list[tuple[str, str]]:
    """`n` reviewers with model scores, the most active first, taken from the sources in turn
    (deterministic), after skipping the first `offset` of that order (a fresh set of users
    for a second run)."""
    rows = con.execute(
        "SELECT r.source, r.user_id, count(*) AS n FROM reviews r JOIN user_scores s ON "
        "s.source = r.source AND s.user_id = r.user_id WHERE len(s.top_items) > 0 "
        "AND (? IS NULL OR list_contains(?, r.source)) GROUP BY 1, 2 "
        "ORDER BY n DESC, 1, 2", [sources, sources]).fetchall()
    return in_turn([(source, user) for source, user, _ in rows], n + offset)[offset:]


def pick_segments(con: Any, n: int, sources: list[str] | None) -> list[tuple[str, str]]:
    """`n` (source, segment) pairs, the sources in turn, the largest segments first."""
    rows = con.execute(
        "SELECT source, segment, count(*) FROM user_scores WHERE segment IS NOT NULL AND "
        "(? IS NULL OR list_contains(?, source)) GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        [sources, sources]).fetchall()
    return in_turn([(source, str(segment)) for source, segment, _ in rows], n)


def in_turn(pairs: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """The first `n` of (source, subject) `pairs`, taking one from each source in turn, each
    source's subjects in their given order."""
    by_source: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        by_source.setdefault(pair[0], []).append(pair)
    picked: list[tuple[str, str]] = []
    while len(picked) < n and any(by_source.values()):
        for queue in by_source.values():
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def run_tool(tool: str, source: str, user: str, con: Any, backend: Any,
             max_tokens: int) -> dict[str, Any]:
    """One prose tool call (the evaluation's shared dispatch), timed, as a record;
    `segment_persona` takes the segment number in place of `user`."""
    from assistant.evaluation.runner import run_prose_tool
    from assistant.tools.persona import persona

    item = None
    if tool == "explain":
        item = con.execute("SELECT top_items[1] FROM user_scores WHERE source = ? AND "
                           "user_id = ?", [source, user]).fetchone()[0]
    started = time.perf_counter()
    if tool == "segment_persona":
        result = persona(None, int(user), source, con=con, backend=backend,
                         prose_max_tokens=max_tokens)
    else:
        result = run_prose_tool(tool, source, user, con, backend, max_tokens, item)
    seconds = time.perf_counter() - started
    narration = result.narration
    load = round(os.getloadavg()[0], 2)  # other work on the same cores slows every call
    return {"tool": tool, "source": source, "user_id": user, "item_id": item,
            "status": result.status,
            "text": result.text, "badge": result.badge, "seconds": round(seconds, 2),
            "load_1m": load,
            "first_token_s": result.run.first_token_s,
            "claims_proposed": narration["claims_proposed"],
            "claims_verified": narration["claims_verified"],
            "claims_shown": len(result.claims) if result.status != "fallback" else 0,
            "evidence": narration.get("evidence", {}), "attempts": narration["attempts"]}


def status_figures(mine: list[dict[str, Any]], share: str = "claims_kept_share"
                   ) -> dict[str, Any]:
    """Status rates and claims verified of proposed over one tool's records (`share` names the
    verified share)."""
    n = len(mine)
    proposed = sum(r["claims_proposed"] for r in mine)
    verified = sum(r["claims_verified"] for r in mine)
    return {"n": n,
            "fallback_rate": round(sum(r["status"] == "fallback" for r in mine) / n, 3),
            "partial_rate": round(sum(r["status"] == "partial" for r in mine) / n, 3),
            "ok_rate": round(sum(r["status"] == "ok" for r in mine) / n, 3),
            "claims_proposed": proposed, "claims_verified": verified,
            share: round(verified / proposed, 3) if proposed else None}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-tool rates and medians."""
    out: dict[str, Any] = {}
    for tool in dict.fromkeys(r["tool"] for r in records):
        mine = [r for r in records if r["tool"] == tool]
        n = len(mine)
        out[tool] = {
            **status_figures(mine),
            "claims_shown_mean": round(sum(r["claims_shown"] for r in mine) / n, 2),
            "retries": sum(len(r["attempts"]) > 1 for r in mine),
            "median_seconds": round(statistics.median(r["seconds"] for r in mine), 2),
            "max_seconds": max(r["seconds"] for r in mine),
        }
    return out


def refusal_reasons(records: list[dict[str, Any]]) -> dict[str, int]:
    """How often each kind of refusal occurred (the reason's fixed part)."""
    counts: dict[str, int] = {}
    for record in records:
        for attempt in record["attempts"]:
            for claim in attempt["claims"]:
                for reason in claim["reasons"]:
                    key = reason.split(": ")[-1] if reason.startswith("'") else reason
                    key = " ".join(w for w in key.split() if not any(c.isdigit() for c in w))
                    counts[key[:70]] = counts.get(key[:70], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:15])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the evaluation and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--offset", type=int, default=0,
                        help="Skip the first N users of the order (a fresh set of users).")
    parser.add_argument("--source", action="append", dest="sources")
    parser.add_argument("--explain", action="store_true", help="Also run explain.")
    parser.add_argument("--segments", type=int, default=0, metavar="N",
                        help="Also N segment personas (the largest segments, sources in turn).")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--copy", type=int, default=0, metavar="N",
                        help="Instead: N marketing copy requests (users and segments x "
                             "channels) and, with --segments-workspace, segment naming; the "
                             "report goes to claims_eval_copy.json.")
    parser.add_argument("--variants", type=int, default=2, help="Variants per copy request.")
    parser.add_argument("--segments-workspace", type=Path, default=None,
                        help="A workspace built like `make demo` whose segments are named.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.copy or args.segments_workspace:
        from benchmarks.claims_copy_eval import run_copy_eval

        return run_copy_eval(args.workspace, args.copy, args.variants, args.sources,
                             args.segments_workspace, args.out, args.offset)
    args.out = args.out or OUT

    from assistant.llm.backends import EmbeddedBackend
    from core.settings import get_settings
    from store.workspace import Workspace

    settings = get_settings().llm
    con = Workspace.open(args.workspace).connect()
    users = pick_users(con, args.users, args.sources, args.offset)
    tools = ["summary", "persona"] + (["explain"] if args.explain else [])
    calls = [(tool, source, user) for source, user in users for tool in tools]
    calls += [("segment_persona", source, segment)
              for source, segment in pick_segments(con, args.segments, args.sources)]
    records: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with EmbeddedBackend(settings, progress=False) as backend:
        for tool, source, user in calls:
            record = run_tool(tool, source, user, con, backend, settings.prose_max_tokens)
            print(f"{tool:8s} {source}/{user}: {record['status']:8s} {record['badge']} "
                  f"({record['seconds']:.1f}s)", flush=True)
            records.append(record)
            # written after every call: an interrupted run keeps what it measured
            report = {"benchmark": "claims_eval",
                      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "workspace": str(args.workspace), "users_planned": len(users),
                      "calls_planned": len(calls), "calls_done": len(records),
                      "llm": {"model": settings.embedded.model_alias,
                              "n_threads": settings.embedded.n_threads,
                              "prose_max_tokens": settings.prose_max_tokens},
                      "machine": describe_machine(),
                      "load_average_1m_at_each_call": [r["load_1m"] for r in records],
                      "summary": summarise(records),
                      "refusals": refusal_reasons(records), "records": records}
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
            tmp.replace(args.out)
    print(json.dumps(report.get("summary"), indent=2))
    return report


if __name__ == "__main__":
    main()
