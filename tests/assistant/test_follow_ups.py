"""Two-turn conversations read by code: relative periods, people instead of events, shares of
"them" or of the whole, a new period set against the previous one, the previous sources kept
for a question of its own, and the data a source lacks refused instead of counted as zero.
Every figure is checked against pandas on the bundled sample."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd
import pytest

from assistant.tools.ask import AskResult, ask
from assistant.tools.follow_up import opens_like_follow_up, shifted_period
from assistant.tools.population import read_population
from assistant.tools.unexplained import spelled
from assistant.tools.unsupported import UNSUPPORTED
from tests.assistant.toolkit import sample_con, sample_ws
from tests.conftest import SAMPLE

__all__ = ["sample_con", "sample_ws"]

D = dt.date


@pytest.fixture(scope="module")
def taobao() -> pd.DataFrame:
    raw = pd.read_csv(SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", header=0,
                      names=["user", "item", "category", "behavior", "ts"])
    raw["day"] = pd.to_datetime(raw.ts, unit="s", utc=True).dt.strftime("%Y-%m-%d")
    return raw


def _users(raw: pd.DataFrame, behavior: str) -> set[Any]:
    return set(raw[raw.behavior == behavior].user)


def _dialogue(con: duckdb.DuckDBPyConnection, first: str, second: str) -> AskResult:
    previous = ask(first, con, None)
    assert previous.answerable, previous.answer
    return ask(second, con, None, previous_plan=previous.plan)


def _value(result: AskResult) -> Any:
    """The answer's figure: the share of a share answer, else the metric's cell."""
    assert result.answerable, result.answer
    key = "share" if result.plan.get("share_condition") else result.plan["metrics"][0]
    return result.rows[0][key]


@pytest.mark.parametrize(("text", "span", "expected"), [
    ("and the day before?", (D(2017, 12, 2), D(2017, 12, 2)), (D(2017, 12, 1), D(2017, 12, 1))),
    ("previous day?", (D(2017, 12, 2), D(2017, 12, 2)), (D(2017, 12, 1), D(2017, 12, 1))),
    ("and the year after?", (D(2013, 1, 1), D(2013, 12, 31)), (D(2014, 1, 1), D(2014, 12, 31))),
    ("the month before", (D(2014, 3, 1), D(2014, 3, 31)), (D(2014, 2, 1), D(2014, 2, 28))),
    ("next week?", (D(2017, 11, 25), D(2017, 12, 1)), (D(2017, 12, 2), D(2017, 12, 8))),
    ("and in taobao?", (D(2017, 12, 2), D(2017, 12, 2)), None),
])
def test_a_period_named_relative_to_the_previous_one(
        text: str, span: tuple[dt.date, dt.date], expected: Any) -> None:
    assert shifted_period(text, *span) == expected


def test_the_day_before_moves_the_previous_day(sample_con: duckdb.DuckDBPyConnection,
                                              taobao: pd.DataFrame) -> None:
    result = _dialogue(sample_con, "taobao page views on 2017-12-02", "and the day before?")
    assert result.plan_source == "follow-up"
    assert result.plan["filters"]["date_from"] == "2017-12-01"
    assert _value(result) == int(((taobao.behavior == "pv") & (taobao.day == "2017-12-01")).sum())


def test_people_stay_people_and_events_become_the_people_who_did_them(
        sample_con: duckdb.DuckDBPyConnection, taobao: pd.DataFrame) -> None:
    carted = _dialogue(sample_con, "how many ppl bought smth on taobao", "and how many carted?")
    assert _value(carted) == len(_users(taobao, "cart"))
    who = _dialogue(sample_con, "tb buys on 2017-12-01", "by how many ppl?")
    day = taobao[taobao.day == "2017-12-01"]
    assert _value(who) == len(_users(day, "buy"))


def test_them_narrowed_and_shared(sample_con: duckdb.DuckDBPyConnection,
                                  taobao: pd.DataFrame) -> None:
    never = _dialogue(sample_con, "how many taobao users favorited something",
                      "how many of them never bought anything?")
    assert _value(never) == len(_users(taobao, "fav") - _users(taobao, "buy"))
    share = _dialogue(sample_con, "how many taobao users carted", "what % of them bought?")
    carters = _users(taobao, "cart")
    assert _value(share) == pytest.approx(len(carters & _users(taobao, "buy")) / len(carters))


def test_a_share_of_the_whole(sample_con: duckdb.DuckDBPyConnection) -> None:
    reviews = pd.read_json(SAMPLE / "musical_instruments" /
                           "reviews_Musical_Instruments_sample.json.gz", lines=True, dtype=False)
    result = _dialogue(sample_con, "how many 5 star reviews in MI",
                       "what share of all reviews is that?")
    assert _value(result) == pytest.approx((reviews.overall == 5).mean())


def test_a_new_day_set_against_the_previous_one(sample_con: duckdb.DuckDBPyConnection,
                                                taobao: pd.DataFrame) -> None:
    result = _dialogue(sample_con, "how many buys on tb on 2017-12-01",
                       "was dec 2 higher or lower?")
    plan = result.plan
    assert (plan["filters"]["date_from"], plan["compare_from"]) == ("2017-12-02", "2017-12-01")
    buys = taobao[taobao.behavior == "buy"].groupby("day").size()
    assert _value(result) == int(buys["2017-12-02"])
    assert str(int(buys["2017-12-01"])) in result.answer


def test_a_question_of_its_own_keeps_the_previous_sources_when_they_can_answer(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    views = _dialogue(sample_con, "On which day did taobao see the most buy events?",
                      "Which day had the most page views?")
    assert views.plan_source != "follow-up" and views.plan["filters"]["source"] == ["taobao"]
    rating = _dialogue(sample_con, "how many purchases on taobao",
                       "What is the average rating of all reviews?")
    assert rating.answerable and rating.plan["filters"]["source"] != ["taobao"]


def test_data_a_source_lacks_is_refused_not_counted_as_zero(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    result = ask("how many 5 star reviews on tb", sample_con, None)
    assert not result.answerable and "taobao has no reviews" in result.answer


@pytest.mark.parametrize("question", [
    "what do ppl search for most on taobao", "How many newsletter subscribers bought something?",
    "which items r out of stock on rees46", "ad click-through rate rees46"])
def test_questions_about_data_no_source_has_are_refused(
        sample_con: duckdb.DuckDBPyConnection, question: str) -> None:
    result = ask(question, sample_con, None)
    assert not result.answerable and "no source records" in result.answer


def test_a_word_of_missing_data_is_not_fixed_into_another_word() -> None:
    assert spelled("what do ppl search for", ["taobao"]) == ("what do ppl search for", {})
    assert any(__import__("re").search(p, "search") for p in UNSUPPORTED)


@pytest.mark.parametrize(("text", "metric", "event_type"), [
    ("how many taobao users favorited something", "users", "fav"),
    ("how many users made a purchase", "buyers", None),
    ("tb ppl who faved", "users", "fav"),
    ("how many carted", "cart_users", None),
    ("which category do ppl buy most", None, None),
    ("how many times did ppl add to cart", None, None),
    ("how many purchased items are there", None, None),
])
def test_people_counted_by_what_they_did(text: str, metric: str | None,
                                         event_type: str | None) -> None:
    found = read_population(text, has_condition_filter=False, has_rating=False)
    assert (found.metric, found.event_type) == (metric, event_type)


@pytest.mark.parametrize(("message", "expected"), [
    ("2014?", True), ("day before?", True), ("top 3?", True), ("and samsung", True),
    ("sounds good", False), ("How many reviews are there in musical_instruments?", False)])
def test_fragments_open_like_follow_ups(message: str, expected: bool) -> None:
    assert opens_like_follow_up(message) is expected


def test_everyday_category_words(sample_con: duckdb.DuckDBPyConnection) -> None:
    raw = pd.read_csv(SAMPLE / "rees46" / "2019-Oct_sample.csv.gz")
    result = ask("how many laptop views on rees46", sample_con, None)
    assert result.plan["filters"]["category"] == ["computers.notebook"]
    assert _value(result) == int(((raw.category_code == "computers.notebook")
                                  & (raw.event_type == "view")).sum())


def test_wider_scope_means_and_comparisons_as_follow_ups(
        sample_con: duckdb.DuckDBPyConnection, taobao: pd.DataFrame) -> None:
    rees = pd.read_csv(SAMPLE / "rees46" / "2019-Oct_sample.csv.gz")
    buys = int((taobao.behavior == "buy").sum())
    every = _dialogue(sample_con, "how many purchases in rees46", "and across all sources?")
    assert every.plan["filters"]["source"] == []
    assert _value(every) == buys + int((rees.event_type == "purchase").sum())
    mean = _dialogue(sample_con, "how many purchases on taobao", "how many is that per user?")
    assert mean.plan["metrics"] == ["purchases_per_user"]
    assert _value(mean) == pytest.approx(buys / taobao.user.nunique())
    versus = _dialogue(sample_con, "tb purchases on 2017-12-02",
                       "Was that more or less than the previous day?")
    assert versus.plan_source == "follow-up" and versus.plan["compare_previous_period"]
    assert versus.plan["filters"]["date_from"] == "2017-12-02"
    assert (versus.periods["previous"] == ["2017-12-01", "2017-12-01"])
    before = _dialogue(sample_con, "tb purchases on 2017-12-02",
                       "compared to the previous period?")
    assert before.plan["compare_previous_period"] and before.plan["compare_from"] is None


def test_a_total_broken_down_and_a_ranking_turned_around(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    daily = _dialogue(sample_con, "how many purchases on taobao", "by day?")
    assert daily.plan["group_by"] == ["day"] and daily.plan["order_by"] is None
    fewest = _dialogue(sample_con, "which taobao category had the most views",
                       "and the fewest?")
    assert fewest.plan["group_by"] == ["category"] and not fewest.plan["descending"]
