"""The operator-set runner: AskResult → strict record, and a small rules-mode run end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from assistant.evaluation.operator_eval import (
    answer_record,
    check_operator_workspace,
    run_operator_eval,
    wanted_n,
)
from assistant.evaluation.strict import score_answer
from assistant.tools.ask import AskResult
from assistant.tools.trace import ToolRun, TraceStep
from insight.commands import tool_cmds
from store.sample import SAMPLE_DIR
from tests.assistant.toolkit import sample_ws

__all__ = ["sample_ws"]


def _plan(metrics: list[str], group_by: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"metrics": metrics, "filters": {}, "group_by": group_by or [], "order_by": None,
            "descending": True, "limit": 10, "compare_previous_period": False, **extra}


def _result(plan: dict[str, Any] | None, rows: list[dict[str, Any]], answer: str = "An answer.",
            answerable: bool = True, plan_source: str = "offline",
            steps: list[TraceStep] | None = None) -> AskResult:
    run = ToolRun(tool="ask", steps=steps or [])
    return AskResult(question="q", answer=answer, answerable=answerable, run=run.finish(),
                     plan=plan, rows=rows, plan_source=plan_source,
                     grounding={"ok": True} if answerable else {})


def _question(gold: dict[str, Any], text: str = "q", kind: str = "plain") -> dict[str, Any]:
    return {"id": "x.1", "kind": kind, "text": text, "gold": gold, "split": "dev"}


def test_single_value_uses_the_metric_cell_and_the_catalog_unit() -> None:
    result = _result(_plan(["view_to_cart_rate"]), [{"view_to_cart_rate": 0.00968}],
                     "The view-to-cart rate in rees46 is 1.0%.")
    record = answer_record(result, _question({}))
    assert record["primary_value"] == 0.00968 and record["unit"] == "rate"
    assert not record["refused"] and not record["fallback"] and not record["flags_doubt"]
    gold = {"value": 0.00968025814, "unit": "fraction", "tolerance": 0.01}
    assert score_answer(_question(gold), record).correct
    counted = answer_record(_result(_plan(["purchases"]), [{"purchases": 1749}]), _question({}))
    assert counted["primary_value"] == 1749 and counted["unit"] == "count"
    assert not score_answer(_question(gold), counted).correct  # a count is not a fraction


def test_ranking_with_a_tie_names_every_tied_row() -> None:
    rows = [{"item_id": "1004833", "purchases": 10}, {"item_id": "1004856", "purchases": 10},
            {"item_id": "1004767", "purchases": 6}]
    result = _result(_plan(["purchases"], ["item_id"]), rows)
    question = _question({"value": 10, "value_unit": "count", "value_required": False,
                          "unit": "entity", "tolerance": 0,
                          "entity": ["1004833", "1004856"]}, "Which product sold the most?")
    record = answer_record(result, question)
    assert record["primary_entity"] == ["1004833", "1004856"]
    assert record["primary_value"] == 10
    assert score_answer(question, record).correct
    single = answer_record(_result(_plan(["purchases"], ["item_id"]), rows[1:]), question)
    assert single["primary_entity"] == "1004856"
    assert not score_answer(question, single).correct


def test_top_n_takes_n_rows_and_the_ties_at_the_cut() -> None:
    rows = [{"category": c, "users": n} for c, n in
            [("a", 9), ("b", 8), ("c", 7), ("d", 7), ("e", 5)]]
    question = _question({}, "top 3 categories by buyers")
    assert wanted_n("top 3 categories") == 3 and wanted_n("which three categories") == 3
    assert wanted_n("Which category sells most?") == 1
    record = answer_record(_result(_plan(["users"], ["category"]), rows), question)
    assert record["primary_entity"] == ["a", "b", "c", "d"]


def test_time_series_peak_and_period_comparison() -> None:
    days = [{"day": "2017-12-01", "events": 5}, {"day": "2017-12-02", "events": 9},
            {"day": "2017-12-03", "events": 7}]
    record = answer_record(_result(_plan(["events"], ["day"], limit=100), days), _question({}))
    assert record["primary_entity"] == "2017-12-02" and record["primary_value"] == 9
    row = [{"purchases": 120, "purchases_previous": 100, "purchases_change": 20}]
    compared = answer_record(_result(_plan(["purchases"], compare_previous_period=True), row),
                             _question({}))
    assert compared["primary_value"] == [100, 120] and compared["direction"] == "up"


def test_two_sides_are_listed_in_the_questions_order() -> None:
    rows = [{"source": "rees46", "users": 4501}, {"source": "taobao", "users": 814}]
    gold = {"value": [558, 193], "unit": "count", "tolerance": 0, "value_required": False,
            "sides": ["taobao", "rees46"], "direction": "taobao", "change": "down"}
    record = answer_record(_result(_plan(["users"], ["source"]), rows), _question(gold))
    assert record["primary_value"] == [814, 4501] and record["direction"] == "rees46"
    assert not score_answer(_question(gold), record).correct
    lowest_first = answer_record(_result(_plan(["users"], ["source"], descending=False),
                                         rows[::-1]), _question({}))
    assert lowest_first["primary_entity"] == "taobao" and lowest_first["direction"] is None


def test_two_metrics_in_plan_order() -> None:
    result = _result(_plan(["revenue", "purchases"]), [{"revenue": 59442.63, "purchases": 214}])
    record = answer_record(result, _question({}))
    assert record["primary_value"] == [59442.63, 214]
    assert record["unit"] == ["money", "count"]
    gold = {"value": [59442.63, 214], "unit": ["currency", "count"], "tolerance": [0.005, 0]}
    assert score_answer(_question(gold), record).correct


def test_refusal() -> None:
    result = _result(None, [], "I can't answer that from this data: no source records age.",
                     answerable=False, plan_source="none")
    record = answer_record(result, _question({}))
    assert record["refused"] and record["primary_value"] is None
    unanswerable = _question({"unanswerable": True}, kind="unanswerable")
    assert score_answer(unanswerable, record).correct
    assert not score_answer(_question({"value": 1, "unit": "count"}), record).correct


def test_fallback_paths_are_flagged() -> None:
    steps = [TraceStep("plan with LLM", "fallback", detail="invalid draft; using code hints")]
    result = _result(_plan(["purchases"]), [{"purchases": 1749}], plan_source="hints",
                     steps=steps)
    record = answer_record(result, _question({}))
    assert record["fallback"] and record["primary_value"] == 1749
    assert not score_answer(_question({"value": 1749, "unit": "count"}), record).correct
    canned = _result(_plan(["purchases"]), [{"purchases": 1749}],
                     "The result table has the answer; see the rows.")
    assert answer_record(canned, _question({}))["fallback"]
    offline = _result(_plan(["purchases"]), [{"purchases": 1749}], plan_source="offline")
    assert not answer_record(offline, _question({}))["fallback"]


def test_doubt_is_read_from_the_text() -> None:
    result = _result(_plan(["purchases"]), [{"purchases": 1749}],
                     "Reading orders as purchase events: there are 1,749 purchases.")
    assert answer_record(result, _question({}))["flags_doubt"]


def _sample_gold() -> list[dict[str, Any]]:
    """Four questions about the bundled sample, with gold computed here from its raw files."""
    tb = pd.read_csv(SAMPLE_DIR / "taobao" / "UserBehavior_sample.csv.gz")
    tb["day"] = pd.to_datetime(tb["timestamp"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    per_day = tb.groupby("day").size().sort_values(ascending=False)
    rees = pd.read_csv(SAMPLE_DIR / "rees46" / "2019-Oct_sample.csv.gz")
    rate = (rees["event_type"] == "cart").sum() / (rees["event_type"] == "view").sum()
    return [
        _question({"value": int((tb["behavior_type"] == "buy").sum()), "unit": "count",
                   "tolerance": 0}, "How many purchases were made in taobao?"),
        _question({"value": int(per_day.iloc[0]), "value_unit": "count", "value_required": False,
                   "unit": "date", "tolerance": 0, "entity": per_day.index[0]},
                  "Which day had the most events in taobao?", "hard"),
        _question({"value": float(rate), "unit": "fraction", "tolerance": 0.01},
                  "What is the view-to-cart rate in rees46?", "casual"),
        _question({"unanswerable": True}, "What is the average age of our customers?",
                  "unanswerable"),
    ]


def test_rules_mode_end_to_end(sample_ws: Path, tmp_path: Path) -> None:
    questions = [{**q, "id": f"s{i}.1", "source": None} for i, q in enumerate(_sample_gold())]
    out = tmp_path / "report.json"
    report = run_operator_eval(sample_ws, questions, None, modes=("rules",), split="dev",
                               out=out)
    assert out.exists() and not report["partial"]
    summary = report["modes"]["rules"]
    records = report["records"]["rules"]
    assert [r["strict"]["correct"] for r in records] == [True, True, True, True], records
    assert summary["strict_accuracy"] == 1.0 and summary["n"] == 4
    assert summary["strict_per_kind"] == {"casual": 1.0, "hard": 1.0, "plain": 1.0,
                                          "unanswerable": 1.0}
    assert summary["plan_validity"] is None and summary["seconds_median"] is not None
    assert records[1]["record"]["primary_entity"] == questions[1]["gold"]["entity"]
    assert set(report["workspace"]["other_sources"]) >= {"gift_cards"}


def test_workspace_without_the_question_sources_is_refused(tmp_path: Path) -> None:
    from core.errors import InputError
    from store.ingest import ingest

    ingest("rees46", SAMPLE_DIR / "rees46" / "2019-Oct_sample.csv.gz", tmp_path / "ws",
           source="rees46", progress=False)
    with pytest.raises(InputError, match="lacks the sources"):
        check_operator_workspace(tmp_path / "ws", None)


def test_cli_rejects_an_unknown_mode(sample_ws: Path) -> None:
    app = typer.Typer(pretty_exceptions_enable=False)
    tool_cmds.register(app)
    result = CliRunner().invoke(app, ["eval-operators", "-w", str(sample_ws), "--mode", "gpt"])
    assert result.exit_code == 2
    assert "--mode must be rules, llm, llm-always, both or all" in result.output
