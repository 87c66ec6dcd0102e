"""Concurrent chat sessions against the app and the embedded model: right answers and latency.

Starts `insight serve` on a workspace (or uses `--url` of a running app), then opens
`--sessions` independent sessions at once with gradio_client (each its own session, as separate
browsers would be) and sends `--turns` chat messages in each, through the same `/chat` endpoint
the page uses, in the page's default "Auto" mode. Most messages are operator questions with a gold
figure (the plain dev questions of `benchmarks/operator_questions`, so serve the operator
workspace); every fourth session asks for a customer briefing (a streamed, cited LLM text).
A turn fails when the request raises or the answer is an error line (⚠); it is right only
when it did not fail, is not a fallback, and (data questions) its first figure is the gold.
The report has p50 / p95 / max latency per kind and
overall, the time to the first streamed update, the queue settings and the load average.

    python benchmarks/ui_load.py --workspace /tmp/ui_ws [--sessions 10] [--turns 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.machine import describe_machine, write_report  # noqa: E402

GOLD_KINDS = ("count", "currency", "fraction", "rating")
PERCENT = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*(%?)")


def gold_questions() -> list[dict[str, Any]]:
    """The operator set's plain dev questions with one gold figure (gold computed with pandas
    from the raw files); the app must serve the operator workspace (`insight eval-operators
    --build`) for them to be right."""
    from assistant.evaluation.strict import load_questions

    return [q for q in load_questions(split="dev") if q["kind"] == "plain"
            and q["gold"].get("entity") is None and not q["gold"].get("unanswerable")
            and q["gold"].get("unit") in GOLD_KINDS and not isinstance(q["gold"]["value"], list)]


def figure_right(answer: str, gold: dict[str, Any]) -> bool:
    """Whether the answer's own figure — the first number of its text, "%" read as a percent —
    equals the gold within its tolerance (any other number in the text does not count)."""
    match = PERCENT.search(answer)
    if match is None:
        return False
    value = float(match.group(1).replace(",", ""))
    if match.group(2) == "%":
        if gold["unit"] != "fraction":
            return False
        value /= 100
    expected, tolerance = float(gold["value"]), float(gold.get("tolerance") or 0)
    # the app shows 2 decimals (rates: one decimal of a percent): allow that rounding
    shown = 0.0005 if match.group(2) == "%" else 0.005 if "." in match.group(1) else 0.5
    return abs(value - expected) <= max(tolerance * abs(expected), shown)


FALLBACK_MARKS = ("status fallback", "facts only", "The result table has the answer")
"""Texts by which an answer shows it is a fallback or canned template."""


def start_app(workspace: Path, port: int, timeout_s: float = 300) -> tuple[Any, str]:
    """`insight serve` in a child process; returns it and its URL."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "insight", "serve", "-w", str(workspace),
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        match = re.search(r"is at (http://\S+)", line)
        if match:  # keep reading its output so the pipe never fills up
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, match.group(1)
        if time.monotonic() > deadline:
            break
    proc.terminate()
    raise SystemExit("the app did not start:\n" + "".join(lines[-30:]))


def _texts(messages: Any) -> list[str]:
    """Texts of the assistant's answer messages (tool-step messages, which have a title,
    left out)."""
    out = []
    for message in messages or []:
        if not isinstance(message, dict) or message.get("role") != "assistant" or (
                message.get("metadata") or {}).get("title"):
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [str(c.get("text", "")) for c in content if isinstance(c, dict)]
    return out


def one_turn(url: str, auth: tuple[str, str] | None, message: str, mode: str,
             user_id: str | None) -> dict[str, Any]:
    """One session (its own client) sending one message; timings and outcome."""
    from gradio_client import Client

    client = Client(url, auth=auth, verbose=False, analytics_enabled=False,
                    download_files=False)
    started = time.perf_counter()
    first = None
    final: Any = None
    error = None
    try:
        job = client.submit(message, [], mode, api_name="/chat")
        for update in job:
            if first is None:
                first = time.perf_counter() - started
            final = update
        final = job.result() if final is None else final
    except Exception as exc:  # the load test reports every failure, it never stops on one
        error = f"{type(exc).__name__}: {exc}"[:300]
    seconds = time.perf_counter() - started
    texts = _texts(final[0] if isinstance(final, list | tuple) and final else None)
    answer = next((t for t in texts if t and not t.startswith(("|", "```"))), "")
    if error is None and (not texts or any(t.startswith("⚠") for t in texts)):
        error = "answer: " + (next((t for t in texts if t.startswith("⚠")), "empty"))[:300]
    whole = "\n".join(texts)
    return {"message": message, "mode": mode, "user_id": user_id, "ok": error is None,
            "error": error, "latency_s": round(seconds, 2),
            "first_update_s": round(first, 2) if first is not None else None,
            "answer": answer[:300], "fallback": any(m in whole for m in FALLBACK_MARKS)}


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 / p95 / max of `values` (None when empty)."""
    if not values:
        return {"p50_s": None, "p95_s": None, "max_s": None}
    arr = np.array(values)
    return {"p50_s": round(float(np.percentile(arr, 50)), 2),
            "p95_s": round(float(np.percentile(arr, 95)), 2), "max_s": round(float(arr.max()), 2)}


def main() -> None:
    """Run the sessions and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="Workspace to serve (starts the app).")
    parser.add_argument("--url", help="A running app instead of --workspace.")
    parser.add_argument("--port", type=int, default=7870)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--turns", type=int, default=1, help="Messages per session.")
    parser.add_argument("--user", help="Login name when the app asks for one.")
    parser.add_argument("--password-env", default="INSIGHT_UI_PASSWORD",
                        help="Environment variable holding the password.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ui_load.json"))
    args = parser.parse_args()
    if (args.workspace is None) == (args.url is None):
        parser.error("give --workspace (start the app) or --url (a running app)")
    auth = (args.user, os.environ.get(args.password_env, "")) if args.user else None
    from core.settings import get_settings

    proc = None
    load_before = os.getloadavg()
    startup = None
    if args.workspace is not None:
        t0 = time.perf_counter()
        proc, url = start_app(args.workspace, args.port)
        startup = round(time.perf_counter() - t0, 1)
    else:
        url = args.url
    users = ["1", "100", "1000"]  # taobao users with 55-98 events (sample and full prefix)
    questions = gold_questions()
    plan, golds = [], {}
    for session in range(args.sessions):
        for turn in range(args.turns):
            if session % 4 == 3:
                user = users[(session // 4 + turn) % len(users)]
                plan.append((f"Summarize user {user} in taobao", "auto", user))
            else:
                question = questions[(session * args.turns + turn) % len(questions)]
                golds[question["text"]] = question["gold"]
                plan.append((question["text"], "auto", None))
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.sessions) as pool:
            futures = [pool.submit(lambda turns: [one_turn(url, auth, *t) for t in turns],
                                   plan[s * args.turns:(s + 1) * args.turns])
                       for s in range(args.sessions)]
            turns = [t for f in futures for t in f.result()]
        wall = time.perf_counter() - started
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
    for t in turns:  # right = no error, not a fallback, and (data) the gold figure
        gold = golds.get(t["message"])
        t["right"] = bool(t["ok"] and not t["fallback"] and (
            gold is None or figure_right(t["answer"], gold)))
    ok = [t for t in turns if t["ok"]]
    right = [t for t in turns if t["right"]]
    ui = get_settings().ui
    report = {
        "benchmark": "ui_load",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "input": {"sessions": args.sessions, "turns_per_session": args.turns,
                  "workspace": str(args.workspace) if args.workspace else None,
                  "url": args.url, "model": get_settings().llm.embedded.model_alias,
                  "llm_concurrency_limit": ui.llm_concurrency_limit,
                  "concurrency_limit": ui.concurrency_limit,
                  "load_average_before": [round(x, 2) for x in load_before]},
        "result": {
            "turns": len(turns), "errors": len(turns) - len(ok),
            "right": len(right), "fallbacks": sum(t["fallback"] for t in turns),
            "scoring": "a turn is right when it has no error, is not a fallback and, for data "
                       "questions, its first figure equals the pandas gold (operator set, "
                       "plain dev questions)",
            "wall_s": round(wall, 1), "app_startup_s": startup,
            "latency": percentiles([t["latency_s"] for t in ok]),
            "first_update": percentiles([t["first_update_s"] for t in ok
                                         if t["first_update_s"] is not None]),
            "by_kind": {kind: {"n": len(part), **percentiles([t["latency_s"] for t in part])}
                        for kind, part in (("data_question", [t for t in ok
                                                              if t["user_id"] is None]),
                                           ("customer_briefing", [t for t in ok
                                                                  if t["user_id"] is not None]))},
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "turns": turns,
    }
    write_report(args.out, report)
    print(json.dumps(report["result"], indent=2))


if __name__ == "__main__":
    main()
