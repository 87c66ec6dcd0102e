"""Stated readings: a vague word of the question is said back with the measure it became."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from assistant.evaluation.answer_record import DOUBT
from assistant.tools.ask import ask
from assistant.tools.readings import stated_readings
from tests.assistant.toolkit import sample_con, sample_ws
from tests.conftest import SAMPLE

__all__ = ["sample_con", "sample_ws"]


def _plan(*metrics: str, **filters: Any) -> dict[str, Any]:
    return {"metrics": list(metrics), "filters": filters}


@pytest.mark.parametrize(("question", "plan", "word", "meaning"), [
    ("how many orders?", _plan("purchases"), "orders", "purchase events"),
    ("total sales tb", _plan("revenue"), "sales", "revenue"),
    ("total sales tb", _plan("purchases"), "sales", "purchase events"),
    ("how much money made in oct", _plan("revenue"), "money made", "sum of the prices"),
    ("how many shoppers?", _plan("users"), "shoppers", "any event"),
    ("how many people bought", _plan("buyers"), "people", "at least one purchase"),
    ("busiest day?", _plan("events"), "busiest", "every type"),
    ("conversion last week", _plan("view_to_purchase_rate"), "conversion", "divided by view"),
])
def test_vague_words_are_read_back(question: str, plan: dict[str, Any], word: str,
                                   meaning: str) -> None:
    readings = stated_readings(question, plan)
    assert len(readings) == 1
    assert readings[0].startswith(f"I read '{word}' as ")
    assert meaning in readings[0]
    assert DOUBT.search(readings[0])  # the evaluation sees the reading as a stated reading


@pytest.mark.parametrize(("question", "plan"), [
    ("how many purchase events?", _plan("purchases")),       # the measure is named
    ("how many views in taobao", _plan("views")),
    ("how many orders?", None),                              # nothing was computed
    ("how many customers bought?", _plan("users", event_type=["purchase"])),  # scope says who
    ("avg rating of MI", _plan("mean_rating")),
])
def test_precise_questions_get_no_reading(question: str, plan: dict[str, Any] | None) -> None:
    assert stated_readings(question, plan) == []


def test_each_metric_of_a_two_metric_plan_gets_its_own_reading() -> None:
    readings = stated_readings("orders and money made?", _plan("purchases", "revenue"))
    assert [r.split("'")[1] for r in readings] == ["orders", "money made"]


def test_the_answer_puts_the_figure_first_and_the_reading_after(sample_con: Any) -> None:
    raw = pd.read_csv(SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", header=0,
                      names=["user", "item", "category", "behavior", "ts"])
    gold = int((raw["behavior"] == "buy").sum())
    result = ask("In the taobao data: how many orders?", sample_con, None)
    assert result.answerable
    figure = f"{gold:,}"
    assert figure in result.answer
    assert result.answer.index(figure) < result.answer.index("I read 'orders' as purchase")
    assert result.readings == result.to_dict()["readings"] == [
        "I read 'orders' as purchase events (one per item bought)."]
    plain = ask("In the taobao data: how many purchase events?", sample_con, None)
    assert plain.readings == [] and "I read" not in plain.answer
