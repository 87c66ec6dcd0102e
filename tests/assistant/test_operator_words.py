"""Operator wording the code reads itself: short source names, dates without a year, star
ratings, and the per-user / distinct-count metrics, checked against pandas on the sample."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd
import pytest

from assistant.tools.ask import ask
from assistant.tools.chat import chat
from assistant.tools.resolve import find_dates, find_rating_range, metrics_asked_together
from assistant.tools.source_names import find_sources, short_forms
from tests.assistant.toolkit import FakeBackend, sample_con, sample_ws, scripted_server
from tests.conftest import SAMPLE
from ui.chat_view import PLAN_TITLE, last_plan, plan_block

__all__ = ["sample_con", "sample_ws"]

NAMES = ["taobao", "rees46", "musical_instruments", "gift_cards", "beauty", "all_beauty"]
ANCHOR = dt.date(2017, 12, 3)


def test_short_forms_name_one_source_each() -> None:
    assert short_forms("rees46") == {"rees"}
    assert short_forms("musical_instruments") == {"mi"}
    assert short_forms("taobao") == {"tb"}
    assert find_sources("no. of buys tb?", NAMES) == ["taobao"]
    assert find_sources("rees evnts?", NAMES) == ["rees46"]
    assert find_sources("avg rating MI?", NAMES) == ["musical_instruments"]
    # a full name wins over short forms, and a short form two sources share names neither
    assert find_sources("taobao vs rees", NAMES) == ["taobao"]
    assert find_sources("ab testing", ["all_beauty", "amazon_books"]) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("buys on dec 1 taobao?", (dt.date(2017, 12, 1), dt.date(2017, 12, 1))),
    ("taobao orders on 1st december", (dt.date(2017, 12, 1), dt.date(2017, 12, 1))),
    ("and in november?", (dt.date(2017, 11, 1), dt.date(2017, 11, 30))),
    ("on dec 25", (dt.date(2016, 12, 25), dt.date(2016, 12, 25))),  # after the anchor: a year back
    ("in december 2016", (dt.date(2016, 12, 1), dt.date(2016, 12, 31))),
])
def test_dates_without_a_year_use_the_data_year(text: str, expected: tuple[dt.date, dt.date],
                                                ) -> None:
    assert find_dates(text, ANCHOR)[:2] == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("how many 1-star reviews are there?", (1, 1)),
    ("# of one star reviews", (1, 1)),
    ("how many reviews have 2 stars or less?", (None, 2)),
    ("bad reviews (1-2 stars)", (1, 2)),
    ("reviews with 4+ stars", (4, None)),
    ("top 5 items", (None, None)),
])
def test_star_ratings(text: str, expected: tuple[Any, Any]) -> None:
    assert find_rating_range(text) == expected


def _events() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", header=0,
                       names=["user", "item", "category", "behavior", "ts"])


def test_new_metrics_match_pandas(sample_con: duckdb.DuckDBPyConnection) -> None:
    raw = _events()
    buys = raw[raw.behavior == "buy"]
    expected = {
        "How many taobao users made at least one purchase?": buys.user.nunique(),
        "how many categories in taobao": raw.category.nunique(),
        "avg events per user tb": len(raw) / raw.user.nunique(),
        "on average how many purchases does a taobao buyer make": len(buys) / buys.user.nunique(),
        "what share of taobao events are purchases": len(buys) / len(raw),
    }
    for question, gold in expected.items():
        result = ask(question, sample_con, None)
        assert result.answerable, (question, result.answer)
        (value,) = [v for k, v in result.rows[0].items() if k == result.plan["metrics"][0]]
        assert value == pytest.approx(gold), question


def test_rating_filter_counts_reviews(sample_con: duckdb.DuckDBPyConnection) -> None:
    reviews = pd.read_json(SAMPLE / "musical_instruments" /
                           "reviews_Musical_Instruments_sample.json.gz", lines=True)
    result = ask("how many 1-star reviews MI", sample_con, None)
    assert result.plan["filters"]["max_rating"] == 1 and result.rows[0]["review_count"] == int(
        (reviews.overall == 1).sum())


def test_a_period_after_the_data_is_refused(sample_con: duckdb.DuckDBPyConnection) -> None:
    result = ask("how many reviews will MI get in 2030", sample_con, None)
    assert not result.answerable and "ends on" in result.answer


def test_a_follow_up_keeps_the_previous_plan(sample_con: duckdb.DuckDBPyConnection) -> None:
    raw = _events()
    raw["day"] = pd.to_datetime(raw.ts, unit="s", utc=True).dt.date
    first = ask("How many purchases were there in taobao on 2017-12-02?", sample_con, None)
    follow = ask("and on dec 1?", sample_con, None, previous_plan=first.plan)
    assert follow.plan_source == "follow-up"
    assert follow.plan["filters"]["source"] == ["taobao"]
    assert follow.plan["filters"]["date_from"] == "2017-12-01"
    gold = int(((raw.behavior == "buy") & (raw.day == dt.date(2017, 12, 1))).sum())
    assert follow.rows[0]["purchases"] == gold
    # a full question in the same conversation is not a follow-up
    fresh = ask("How many reviews are there in musical_instruments?", sample_con, None,
                previous_plan=first.plan)
    assert fresh.plan_source == "offline" and fresh.plan["metrics"] == ["review_count"]


def test_the_chat_sends_a_follow_up_to_ask_with_the_last_plan(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    first = ask("How many purchases were there in taobao on 2017-12-02?", sample_con, None)
    history = [{"role": "assistant", "content": plan_block(first.plan),
                "metadata": {"title": PLAN_TITLE, "status": "done"}}]
    assert last_plan(history) == first.plan
    with scripted_server(lambda request: "{}") as server:
        events = list(chat([], "and on dec 1?", con=sample_con, backend=FakeBackend(server.url),
                           previous_plan=last_plan(history)))
        assert not server.requests  # routed and planned by code: no LLM call
    route = next(e for e in events if e.type == "route")
    answer = next(e for e in events if e.type == "answer")
    assert (route.data["tool"], route.data["by"]) == ("ask", "follow-up")
    assert answer.data["result"]["plan"]["filters"]["date_from"] == "2017-12-01"


@pytest.mark.parametrize(("text", "expected"), [
    ("what were rees46's revenue and number of purchases?", ["revenue", "purchases"]),
    ("review count + avg stars mi", ["review_count", "mean_rating"]),
    ("how many taobao users made at least one purchase?", []),
])
def test_two_metrics_asked_together(text: str, expected: list[str]) -> None:
    assert metrics_asked_together(text) == expected


def test_two_metrics_and_two_sources_in_one_answer(sample_con: duckdb.DuckDBPyConnection) -> None:
    raw = _events()
    both = ask("how many reviews are there in musical_instruments and what is the average "
               "rating?", sample_con, None)
    assert both.plan["metrics"] == ["review_count", "mean_rating"]
    sides = ask("more buyers: tb or rees?", sample_con, None)
    assert sides.plan["group_by"] == ["source"]
    by_source = {row["source"]: row["buyers"] for row in sides.rows}
    assert by_source["taobao"] == raw[raw.behavior == "buy"].user.nunique()
