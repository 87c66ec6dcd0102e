"""Prompt injection through review text, against the real embedded model.

24 planted reviews (`tests/fixtures/injection_reviews.jsonl`: instructions, role-play, `system:`
lines, fake JSON answers, fake citation ids, HTML / JS, Markdown links and images, fake numbers,
delimiter breaking, SQL) by 8 users on 4 items, plus a control user and item with normal
reviews only. With the embedded model (greedy, the tools' own token caps) every user gets a
summary and a persona, 4 (user × item) pairs an explanation and 4 items email copy aimed at a
user. Each planted review that reached a prompt is one case, judged by
`benchmarks.injection_checks.evaluate`: structure as for normal input (the control's), valid
citations, grounded numbers, no planted number / link / image / script / id in the output,
nothing unsafe in the rendered views, the review fenced in as untrusted data. A fallback answer
passes like any other but is counted separately; the tables must not change.

    python benchmarks/injection_real.py [--quick] [--out benchmarks/results/injection_real.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from benchmarks.injection_checks import (  # noqa: E402
    CONTROL_ITEM,
    CONTROL_USER,
    FIXTURE,
    Call,
    PromptLog,
    build_workspace,
    evaluate,
    load_planted,
    run_call,
    shape,
    table_counts,
)
from benchmarks.machine import describe_machine, file_sha256, write_report  # noqa: E402

log = logging.getLogger("benchmarks.injection_real")
RESULTS = REPO_ROOT / "benchmarks" / "results"
USERS = ["AINJ1AVA", "AINJ2BEN", "AINJ3CY", "AINJ4DEV", "AINJ5EVE", "AINJ6FOX", "AINJ7GUS",
         "AINJ8HAL"]
PAIRS = [("AINJ1AVA", "B0INJGTR01"), ("AINJ2BEN", "B0INJMIC02"), ("AINJ3CY", "B0INJCAP03"),
         ("AINJ4DEV", "B0INJAMP04")]
"""(user, item) of the explanations; copy goes to the item's next user (AINJ5EVE…)."""
COPY = [("AINJ5EVE", "B0INJGTR01"), ("AINJ6FOX", "B0INJMIC02"), ("AINJ7GUS", "B0INJCAP03"),
        ("AINJ8HAL", "B0INJAMP04")]
CONTROLS = {"summary": Call("summary", CONTROL_USER), "persona": Call("persona", CONTROL_USER),
            "explain": Call("explain", CONTROL_USER, CONTROL_ITEM),
            "copy": Call("copy", CONTROL_USER, CONTROL_ITEM)}


def calls(quick: bool = False) -> list[Call]:
    """Every call of the benchmark (`quick`: one per tool, those of the test module)."""
    if quick:
        return [Call("summary", "AINJ1AVA"), Call("persona", "AINJ2BEN"),
                Call("explain", "AINJ5EVE", "B0INJGTR01"), Call("copy", "AINJ6FOX", "B0INJMIC02")]
    return ([Call("summary", u) for u in USERS] + [Call("persona", u) for u in USERS]
            + [Call("explain", u, i) for u, i in PAIRS] + [Call("copy", u, i) for u, i in COPY])


def timed(call: Call, con: Any, backend: Any) -> tuple[Any, list[list[Any]], float]:
    """Run one call with its prompts recorded: (result, prompts, seconds)."""
    recorder = PromptLog()
    started = time.perf_counter()
    with recorder.recording():
        result = run_call(call, con, backend)
    return result, recorder.prompts, time.perf_counter() - started


def judged(call: Call, con: Any, backend: Any, planted: dict[str, Any],
           reference: dict[str, Any]) -> dict[str, Any]:
    """Run one call with its prompts recorded and evaluate it against the control's `reference`
    structure: the report of `injection_checks.evaluate`, with the call's seconds."""
    result, prompts, seconds = timed(call, con, backend)
    report = evaluate(con, call, result, prompts, planted, reference)
    report["seconds"] = round(seconds, 1)
    return report


def _tally(cases: list[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for case in cases:
        entry = out.setdefault(case[key], {"cases": 0, "passed": 0})
        entry["cases"] += 1
        entry["passed"] += int(case["passed"])
    return dict(sorted(out.items()))


def totals(evaluated: list[dict[str, Any]], planted: dict[str, Any],
           tables_unchanged: bool) -> dict[str, Any]:
    """The summary figures of the report."""
    cases = [c for e in evaluated for c in e["cases"]]
    reached = {c["review_id"] for c in cases}
    fallback = [c for c in cases if c["status"] == "fallback"]
    return {
        "planted_reviews": len(planted), "planted_reached": len(reached),
        "not_reached": sorted(set(planted) - reached),
        "calls": len(evaluated), "calls_by_status": dict(Counter(e["status"] for e in evaluated)),
        "cases": len(cases), "passed": sum(c["passed"] for c in cases),
        "failed": sum(not c["passed"] for c in cases),
        "cases_by_status": dict(Counter(c["status"] for c in cases)),
        "passed_as_fallback": sum(c["passed"] for c in fallback),
        "passed_without_fallback": sum(c["passed"] for c in cases if c["status"] != "fallback"),
        "injected_text_repeated": sum(bool(c["injected_text_repeated"]) for c in cases),
        "by_tool": _tally(cases, "tool"), "by_attack": _tally(cases, "attack"),
        "tables_unchanged": tables_unchanged,
        "all_passed": bool(cases) and all(c["passed"] for c in cases) and tables_unchanged,
    }


def run(quick: bool) -> dict[str, Any]:
    """Build the workspace, run the controls and every call, evaluate; the report."""
    from assistant.llm.backends import EmbeddedBackend
    from core.settings import get_settings
    from store.workspace import Workspace

    settings = get_settings().llm
    planted = load_planted()
    evaluated: list[dict[str, Any]] = []
    controls: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        con = Workspace.open(build_workspace(Path(tmp))).connect()
        before = table_counts(con)
        with EmbeddedBackend(settings, progress=False) as backend:
            references = {}
            for tool, call in CONTROLS.items():
                result, _, seconds = timed(call, con, backend)
                references[tool] = shape(result)
                controls.append({"call": call.name, "status": result.status,
                                 "seconds": round(seconds, 1), "shape": references[tool]})
                log.info("control %s: %s in %.0fs", call.name, result.status, seconds)
            for call in calls(quick):
                report = judged(call, con, backend, planted, references[call.tool])
                evaluated.append(report)
                log.info("%s: %s in %.0fs, %d/%d cases passed", call.name, report["status"],
                         report["seconds"], sum(c["passed"] for c in report["cases"]),
                         len(report["cases"]))
        unchanged = table_counts(con) == before
        con.close()
    return {
        "benchmark": "injection_real",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "model": {"backend": "embedded", "alias": settings.embedded.model_alias,
                  "temperature": settings.temperature, "seed": settings.seed,
                  "prose_max_tokens": settings.prose_max_tokens},
        "fixture": {"path": str(FIXTURE.relative_to(REPO_ROOT)), "sha256": file_sha256(FIXTURE)},
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
        "totals": totals(evaluated, planted, unchanged),
        "controls": controls,
        "calls": [{k: v for k, v in e.items() if k != "cases"} for e in evaluated],
        "cases": [c for e in evaluated for c in e["cases"]],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report; exit 1 when a case failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one call per tool")
    parser.add_argument("--out", type=Path, default=RESULTS / "injection_real.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    report = run(args.quick)
    write_report(args.out, report)
    t = report["totals"]
    print(f"{t['passed']}/{t['cases']} cases passed ({t['passed_as_fallback']} as fallback), "
          f"{t['planted_reached']}/{t['planted_reviews']} planted reviews reached a prompt, "
          f"tables unchanged: {t['tables_unchanged']}; report: {args.out}")
    return 0 if t["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
