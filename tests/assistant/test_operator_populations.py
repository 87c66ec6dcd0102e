"""Questions about who is counted: users who did / never did something, N-or-more times,
shares of a group, medians per user and first / last dates — read by code, compiled to SQL
and checked against pandas on the bundled sample."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from pydantic import ValidationError

from assistant.analytics.compiler import compile_plan
from assistant.analytics.plan import QueryPlan
from assistant.tools.ask import ask
from assistant.tools.periods import find_dates, find_rating_range
from assistant.tools.population import read_population
from tests.assistant.toolkit import sample_con, sample_ws
from tests.conftest import SAMPLE

__all__ = ["sample_con", "sample_ws"]


def _taobao() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", header=0,
                       names=["user", "item", "category", "behavior", "ts"])


def _reviews() -> pd.DataFrame:
    return pd.read_json(SAMPLE / "musical_instruments" /
                        "reviews_Musical_Instruments_sample.json.gz", lines=True)


def _users_of(raw: pd.DataFrame, behavior: str) -> set[int]:
    return set(raw.loc[raw.behavior == behavior, "user"])


def _value(result: object) -> object:
    plan = result.plan  # type: ignore[attr-defined]
    assert result.answerable, result.answer  # type: ignore[attr-defined]
    row = result.rows[0]  # type: ignore[attr-defined]
    return row["share"] if plan.get("share_condition") else row[plan["metrics"][0]]


def test_set_differences_match_pandas(sample_con: duckdb.DuckDBPyConnection) -> None:
    raw = _taobao()
    carted, bought, viewed = (_users_of(raw, b) for b in ("cart", "buy", "pv"))
    cases = {
        "How many taobao users added items to the cart but never bought anything?":
            len(carted - bought),
        "how many ppl on tb viewed stuff but never purchased": len(viewed - bought),
        "buyers w/o any cart event in taobao": len(bought - carted),
    }
    for question, gold in cases.items():
        result = ask(question, sample_con, None)
        assert _value(result) == gold, (question, result.answer, result.plan)
        assert "among users with no" in result.answer  # the answer says what it counted


def test_per_user_counts_and_medians_match_pandas(sample_con: duckdb.DuckDBPyConnection) -> None:
    raw = _taobao()
    buys = raw[raw.behavior == "buy"].groupby("user").size()
    reviews = _reviews().groupby("reviewerID").size()
    cases = {
        "How many taobao users bought at least 3 times?": int((buys >= 3).sum()),
        "# users with 2+ purchases tb": int((buys >= 2).sum()),
        "how many ppl bought more than once on taobao": int((buys >= 2).sum()),
        "How many reviewers wrote at least 2 reviews in musical instruments?":
            int((reviews >= 2).sum()),
        "What is the median number of events per taobao user?":
            float(raw.groupby("user").size().median()),
        "median events/user tb": float(raw.groupby("user").size().median()),
    }
    for question, gold in cases.items():
        result = ask(question, sample_con, None)
        assert _value(result) == pytest.approx(gold), (question, result.answer, result.plan)
    mean = ask("how many things does a typical taobao buyer buy on avg", sample_con, None)
    assert mean.plan["metrics"] == ["purchases_per_buyer"]  # "avg" is a mean, not a median


def test_shares_match_pandas(sample_con: duckdb.DuckDBPyConnection) -> None:
    raw = _taobao()
    carted, bought = _users_of(raw, "cart"), _users_of(raw, "buy")
    reviews = _reviews()
    cases = {
        "What share of taobao buyers also added something to the cart?":
            len(bought & carted) / len(bought),
        "of the ppl who bought on tb, what % used the cart too":
            len(bought & carted) / len(bought),
        "what share of taobao users bought something": len(bought) / raw.user.nunique(),
        "What share of musical instruments reviews are 5 stars?":
            float((reviews.overall == 5).mean()),
    }
    for question, gold in cases.items():
        result = ask(question, sample_con, None)
        assert _value(result) == pytest.approx(gold), (question, result.answer, result.plan)
        assert "%" in result.answer and " of " in result.answer


def test_first_and_last_dates(sample_con: duckdb.DuckDBPyConnection) -> None:
    times = pd.to_datetime(_reviews().unixReviewTime, unit="s", utc=True).dt.date
    first = ask("When was the first review written in musical instruments?", sample_con, None)
    last = ask("What is the most recent review date in MI?", sample_con, None)
    assert first.rows[0]["first_review_date"] == min(times).isoformat()
    assert last.rows[0]["last_review_date"] == max(times).isoformat()
    assert not last.plan["group_by"]  # one date, not a ranking of days


def test_follow_up_narrows_to_repeat_buyers(sample_con: duckdb.DuckDBPyConnection) -> None:
    buys = _taobao().query("behavior == 'buy'").groupby("user").size()
    first = ask("how many ppl bought smth in taobao", sample_con, None)
    follow = ask("how many of them bought more than once?", sample_con, None,
                 previous_plan=first.plan)
    assert follow.plan_source == "follow-up"
    assert _value(follow) == int((buys >= 2).sum())
    month = ask("and nov?", sample_con, None, previous_plan=first.plan)
    assert month.plan["filters"]["date_from"] == "2017-11-01"


def test_readings_of_words() -> None:
    assert read_population("users who carted but never purchased", False, False).users == [
        {"event_type": "purchase", "never": True}]
    counted = read_population("how many ppl bought 3 or more times", False, False)
    assert (counted.metric, counted.users) == ("buyers", [{"event_type": "purchase",
                                                           "min_count": 3}])
    assert read_population("how many users are there", False, False).found() is False
    assert read_population("no. of purchases", False, False).users == []  # "no." = number
    assert find_rating_range("# users with 3+ purchases") == (None, None)
    assert find_rating_range("bad reviews 1 2 stars") == (1, 2)
    assert find_dates("how many sales on 12/1 in tb", dt.date(2017, 12, 3))[:2] == (
        dt.date(2017, 12, 1), dt.date(2017, 12, 1))


def test_user_conditions_are_bound_and_validated() -> None:
    plan = QueryPlan.model_validate({"metrics": ["buyers"], "filters": {
        "source": ["taobao"], "users": [{"event_type": "purchase", "min_count": 3},
                                        {"event_type": "cart", "never": True}]}})
    compiled = compile_plan(plan, has_scores=False)
    assert "'cart'" not in compiled.sql and "cart" in compiled.params and 3 in compiled.params
    with pytest.raises(ValidationError):
        QueryPlan.model_validate({"metrics": ["buyers"], "filters": {
            "users": [{"never": True}]}})  # "never" of nothing
    with pytest.raises(ValidationError):
        QueryPlan.model_validate({"metrics": ["mean_rating"],
                                  "share_condition": {"min_rating": 5}})  # share of an average
    with pytest.raises(ValidationError):
        QueryPlan.model_validate({"metrics": ["buyers"], "group_by": ["brand"],
                                  "share_condition": {"brand": ["apple"]}})
