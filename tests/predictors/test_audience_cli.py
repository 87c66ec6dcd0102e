"""`insight audience` (JSON, table, CSV, errors) and the chat route to the audience builder."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.tools import audience_tool
from assistant.tools.chat import chat
from insight.cli import app
from insight.commands.audience_cmds import write_audience_csv
from predictors.audience import AudienceOptions, AudienceTarget, build_audience
from store.workspace import Workspace

CATEGORY = "4756105"
FAST = ["--backtest-epochs", "2"]


def _run(ws: Workspace, *args: str) -> Any:
    return CliRunner().invoke(app, ["audience", "-w", str(ws.root), "--source", "taobao",
                                    *args], catch_exceptions=False)


def test_json_has_users_and_a_numeric_lift(audience_ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "audience.csv"
    done = _run(audience_ws, "--category", CATEGORY, "--size", "25", "--json", "--csv",
                str(out), *FAST)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    users = result["users"]
    assert len(users) == 25 and all({"user_id", "probability"} <= set(u) for u in users)
    assert [u["probability"] for u in users] == sorted((u["probability"] for u in users),
                                                       reverse=True)
    bt = result["backtest"]
    assert isinstance(bt["lift"], float) and bt["lift"] >= 0
    assert {"lift_vs_recent_viewers", "lift_vs_popularity", "precision_at_k",
            "base_rate"} <= set(bt)
    assert 0.0 <= bt["precision_at_k"] <= 1.0 and bt["k"] == 25
    assert result["expected_conversions"] == pytest.approx(sum(u["probability"]
                                                               for u in users), abs=1e-4)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["user_id"] for r in rows] == [u["user_id"] for u in users]
    assert float(rows[0]["probability"]) == pytest.approx(users[0]["probability"])


def test_table_output_ends_with_the_backtest_line(audience_ws: Workspace) -> None:
    done = _run(audience_ws, "--goal", "convert-carts", "--size", "5", *FAST)
    assert done.exit_code == 0, done.output
    assert "audience for goal convert-carts" in done.stdout
    assert "backtest at 2017-12-02" in done.stdout and "over random" in done.stdout
    assert "expected conversions:" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--category", "Gadgets"], "unknown category 'Gadgets' in source 'taobao'"),
    (["--item", "nope-1"], "unknown item 'nope-1'"),
    (["--item", "1", "--brand", "x"], "exactly one target"),
    ([], "exactly one target"),
    (["--goal", "upsell"], "unknown goal 'upsell'"),
])
def test_bad_targets_exit_2_naming_them(audience_ws: Workspace, args: list[str],
                                        message: str) -> None:
    done = _run(audience_ws, *args, "--no-backtest")
    assert done.exit_code == 2
    assert message in " ".join(done.output.split()) and "Traceback" not in done.output


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    users = [{"user_id": "=HYPERLINK(\"http://x\")", "probability": 0.5, "score": 0.1,
              "last_active": "+1", "segment": 2, "intent": None, "churn": 0.25},
             {"user_id": "@SUM(A1)", "probability": 0.25, "score": 0.05, "last_active": "-3",
              "segment": None, "intent": 0.1, "churn": None},
             {"user_id": " =1+1", "probability": 0.1, "score": 0.0, "last_active": None,
              "segment": None, "intent": None, "churn": None}]
    path = write_audience_csv(tmp_path / "out.csv", users)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["user_id", "probability"]
    assert rows[1][0] == "'=HYPERLINK(\"http://x\")" and rows[1][3] == "'+1"
    assert rows[2][0] == "'@SUM(A1)" and rows[2][3] == "'-3"
    assert rows[3][0] == "' =1+1"
    assert rows[1][1] == "0.5" and rows[1][4] == "2" and rows[1][5] == ""


class _NoLLM:
    """A backend the rule-routed audience question must never call."""

    model = "none"

    def chat_model(self) -> Any:
        raise AssertionError("the audience route must not need the LLM")


def test_chat_routes_who_to_target_to_the_audience_builder(
        audience_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(audience_tool.CHAT_OPTIONS, "backtest_epochs", 2)
    con = audience_ws.connect()
    try:
        events = list(chat([], f"Who should we target with category {CATEGORY}?", con=con,
                           backend=_NoLLM()))  # type: ignore[arg-type]
    finally:
        con.close()
    route = next(e for e in events if e.type == "route")
    assert route.data["tool"] == "audience" and route.data["by"] == "rules"
    answer = next(e for e in events if e.type == "answer")
    expected = build_audience(audience_ws, "taobao", AudienceTarget("category", CATEGORY),
                              AudienceOptions(size=100, backtest_epochs=2))
    assert expected.backtest is not None and expected.backtest.lift is not None
    text = answer.data["text"]
    assert f"{len(expected.users)} users" in text
    assert f"expected conversions {expected.expected_conversions:.1f}" in text
    assert f"lift {expected.backtest.lift:.2f}× over random users" in text
    assert answer.data["result"]["figures"]["lift"] == pytest.approx(expected.backtest.lift)
    assert not any(u.user_id in text for u in expected.users[:10])  # no ids in the chat


@pytest.mark.parametrize(("message", "expected"), [
    ("which users should get the email about the cart reminder", ("taobao", "goal",
                                                                  "convert-carts")),
    ("who should get our win-back campaign?", ("taobao", "goal", "winback")),
    (f"which customers are most likely to buy {CATEGORY}", ("taobao", "category", CATEGORY)),
])
def test_parse_target(audience_ws: Workspace, message: str,
                      expected: tuple[str, str, str]) -> None:
    assert audience_tool.is_audience_question(message)
    con = audience_ws.connect()
    try:
        assert audience_tool.parse_target(con, message) == expected
    finally:
        con.close()


def test_other_questions_are_not_audiences() -> None:
    for message in ("how many purchases in taobao last week?", "summarize user 42",
                    "write email copy for item 123 to user 42"):
        assert not audience_tool.is_audience_question(message)
