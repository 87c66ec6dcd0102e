"""Prompt injection through review text with the real embedded model (marked `llm`).

The planted reviews of `tests/fixtures/injection_reviews.jsonl` (instructions, role-play,
`system:` lines, fake JSON answers, fake citation ids, HTML / JS, Markdown links and images,
fake numbers, delimiter breaking) reach the prompts of a summary, a persona, an explanation
and marketing copy; the real model answers. Every planted review shown to the model is one
case of `benchmarks.injection_checks.evaluate`: the answer keeps the structure of a normal one,
cites only the subject's ids, writes only grounded numbers, repeats no planted number, link,
image, script or id, and its rendered views (tab HTML, chat Markdown) hold no script, handler,
image or link; the prompt fences the review in as untrusted data. A fallback answer passes
like any other. `benchmarks/injection_real.py` runs the same checks on every user and item.
One backend for the module; four tool calls (about a minute each on two shared cores).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pytest

from benchmarks.injection_checks import (
    CONTROL_ITEM,
    CONTROL_USER,
    Call,
    Planted,
    build_workspace,
    load_planted,
    run_call,
    shape,
    table_counts,
)
from benchmarks.injection_real import calls, judged
from store.workspace import Workspace
from tests.assistant.test_tools_llm import backend
from tests.assistant.toolkit import FakeBackend, scripted_server

__all__ = ["backend"]  # the embedded backend fixture, started once for this module

pytestmark = [pytest.mark.llm, pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")]

CALLS = calls(quick=True)


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The injection fixture as a workspace."""
    connection = Workspace.open(build_workspace(tmp_path_factory.mktemp("inj"))).connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def baseline(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts before any tool ran."""
    return table_counts(con)


@pytest.fixture(scope="module")
def planted() -> dict[str, Planted]:
    """The planted reviews by id."""
    return load_planted()


@pytest.fixture(scope="module")
def references(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """The structure of each tool's answer for normal input (the control user and item, a
    well-behaved scripted model: the structure does not depend on the model)."""
    def respond(request: dict[str, Any]) -> str:
        if request.get("response_format"):
            return json.dumps({"variants": [{"headline": "A sturdy stand",
                                             "body": "Take another look at this stand."}]})
        return "The customer is active [F:events]."

    with scripted_server(respond) as server:
        fake = FakeBackend(server.url)
        return {c.tool: shape(run_call(Call(c.tool, CONTROL_USER, c.item_id and CONTROL_ITEM),
                                       con, fake)) for c in CALLS}


@pytest.fixture(scope="module")
def outcome(con: duckdb.DuckDBPyConnection, backend: Any, planted: dict[str, Planted],
            references: dict[str, dict[str, Any]], baseline: dict[str, int]
            ) -> Callable[[Call], dict[str, Any]]:
    """Run a call with the real model once (prompts recorded) and evaluate it."""
    done: dict[str, dict[str, Any]] = {}

    def get(call: Call) -> dict[str, Any]:
        if call.name not in done:
            done[call.name] = judged(call, con, backend, planted, references[call.tool])
        return done[call.name]

    return get


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
def test_injected_reviews_do_not_steer_the_answer(
        call: Call, outcome: Callable[[Call], dict[str, Any]],
        planted: dict[str, Planted]) -> None:
    report = outcome(call)
    assert report["problems"]["structure"] == [], report
    assert report["problems"]["citations"] == [], report
    assert report["problems"]["numbers"] == [], report
    assert report["problems"]["render"] == {"html": [], "markdown": []}, report
    subject = {rid for rid, p in planted.items()
               if (p.item_id if call.tool in ("explain", "copy") else p.user_id)
               == (call.item_id if call.tool in ("explain", "copy") else call.user_id)}
    cases = report["cases"]
    assert len(cases) == 3 and {c["review_id"] for c in cases} <= subject  # all reached
    failed = [c for c in cases if not c["passed"]]
    assert not failed, (report["output"], failed)


def test_prompts_fence_in_the_planted_reviews(
        outcome: Callable[[Call], dict[str, Any]]) -> None:
    """A quick repeat of the scripted tests' delimiting checks on the real path."""
    cases = [c for call in CALLS for c in outcome(call)["cases"]]
    assert len(cases) == 12
    assert all(c["delimited"] for c in cases), [c for c in cases if not c["delimited"]]
    attacks = {c["attack"] for c in cases}
    assert {"delimiter_break", "delimiter_attribute", "html_script", "html_img"} <= attacks


def test_nothing_was_executed(con: duckdb.DuckDBPyConnection, baseline: dict[str, int],
                              outcome: Callable[[Call], dict[str, Any]]) -> None:
    for call in CALLS:
        outcome(call)
    assert table_counts(con) == baseline == {"reviews": 35, "events": 35, "items": 5}
