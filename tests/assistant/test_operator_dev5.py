"""Constructs the fifth development question set asked for, read by code: days with their
year, two-digit years, weeks named by a day, two years compared, "4 or 5 stars", people or
items counted by a star rating, the day of the week, summed prices of carts, the median after
a mean, a leader asked of a total, a share "as % of all", and refusals of what a source never
logged (favourites on rees46, a day before the log starts, sellers). Figures are checked
against pandas on the bundled sample."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from assistant.tools.ask import AskResult, ask
from assistant.tools.periods import find_dates, find_rating_range, find_two_periods
from tests.assistant.toolkit import sample_con, sample_ws
from tests.conftest import SAMPLE

__all__ = ["sample_con", "sample_ws"]

D = dt.date
TAOBAO_END = D(2017, 12, 3)


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    raw = pd.read_json(
        SAMPLE / "musical_instruments" / "reviews_Musical_Instruments_sample.json.gz", lines=True)
    raw["ts"] = pd.to_datetime(raw.unixReviewTime, unit="s", utc=True)
    return raw


@pytest.fixture(scope="module")
def rees() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "rees46" / "2019-Oct_sample.csv.gz")


def _figure(result: AskResult) -> float:
    assert result.answerable, result.answer
    key = "share" if result.plan.get("share_condition") else result.plan["metrics"][0]
    return result.rows[0][key]


def _dialogue(con: duckdb.DuckDBPyConnection, first: str, second: str) -> AskResult:
    previous = ask(first, con, None)
    assert previous.answerable, previous.answer
    return ask(second, con, None, previous_plan=previous.plan)


@pytest.mark.parametrize(("text", "expected"), [
    ("orders on November 11, 2017?", (D(2017, 11, 11), D(2017, 11, 11))),
    ("buys on 11 nov 2017", (D(2017, 11, 11), D(2017, 11, 11))),
    ("buys on 11/11/2017", (D(2017, 11, 11), D(2017, 11, 11))),
    ("# of four star ratings in '13", (D(2013, 1, 1), D(2013, 12, 31))),
    ("purchases in the week of nov 29", (D(2017, 11, 27), D(2017, 12, 3))),
    ("buys in the week starting Monday, November 27", (D(2017, 11, 27), D(2017, 12, 3))),
    ("tb orders wk of 11/27", (D(2017, 11, 27), D(2017, 12, 3))),
    ("march '14 reviews", (D(2014, 3, 1), D(2014, 3, 31))),
])
def test_dates_with_their_year_and_weeks_named_by_a_day(text: str, expected: tuple) -> None:
    assert find_dates(text, TAOBAO_END)[:2] == expected


def test_two_years_or_months_are_two_periods_but_a_range_is_not() -> None:
    assert find_two_periods("avg stars 2012 vs 2013", None) == (
        (D(2013, 1, 1), D(2013, 12, 31)), (D(2012, 1, 1), D(2012, 12, 31)))
    assert find_two_periods("purchases in november or december?", TAOBAO_END) == (
        (D(2017, 12, 1), D(2017, 12, 31)), (D(2017, 11, 1), D(2017, 11, 30)))
    assert find_two_periods("reviews between 2012 and 2013", None) is None
    assert find_two_periods("reviews in 2013", None) is None


def test_a_star_range_with_or() -> None:
    assert find_rating_range("what share of reviews are 4 or 5 stars") == (4, 5)
    assert find_rating_range("1 or 2 star reviews") == (1, 2)


def test_people_and_items_counted_by_a_star_rating(sample_con, reviews) -> None:
    one_star = reviews[reviews.overall == 1]
    people = ask("how many MI reviewers gave a 1 star review", sample_con, None)
    assert people.plan["metrics"] == ["reviewers"]
    assert _figure(people) == one_star.reviewerID.nunique()
    items = ask("How many MI products got at least one 1-star review?", sample_con, None)
    assert items.plan["metrics"] == ["reviewed_items"]
    assert _figure(items) == one_star.asin.nunique()
    counted = ask("how many 1 star reviews in MI", sample_con, None)
    assert _figure(counted) == len(one_star)


def test_a_share_as_percent_of_all_reviewers(sample_con, reviews) -> None:
    result = _dialogue(sample_con, "# ppl w/ a 4* review MI", "as % of all reviewers?")
    expected = (reviews[reviews.overall == 4].reviewerID.nunique()
                / reviews.reviewerID.nunique())
    assert _figure(result) == pytest.approx(expected)


def test_the_day_of_the_week(sample_con, reviews) -> None:
    result = ask("Which day of the week gets the most MI reviews?", sample_con, None)
    assert result.plan["group_by"] == ["weekday"]
    counts = reviews.ts.dt.day_name().value_counts()
    assert result.rows[0]["weekday"] == counts.index[0]
    assert result.rows[0][result.plan["metrics"][0]] == counts.iloc[0]


def test_two_years_compared(sample_con, reviews) -> None:
    result = ask("avg stars 2012 vs 2013 in MI", sample_con, None)
    assert result.plan["compare_previous_period"]
    mean = reviews.groupby(reviews.ts.dt.year).overall.mean()
    assert result.rows[0]["mean_rating"] == pytest.approx(mean[2013])
    assert result.rows[0]["mean_rating_previous"] == pytest.approx(mean[2012])


def test_total_value_of_carts_and_the_median_after_a_mean(sample_con, rees) -> None:
    carts = ask("What is the total value of products added to cart on rees46?", sample_con, None)
    assert _figure(carts) == pytest.approx(rees[rees.event_type == "cart"].price.sum())
    median = _dialogue(sample_con, "what's the mean price paid per purchase on rees46",
                       "and the median?")
    assert median.plan["metrics"] == ["median_price"]
    assert _figure(median) == pytest.approx(rees[rees.event_type == "purchase"].price.median())


def test_people_counted_even_when_a_product_is_named(sample_con, rees) -> None:
    result = ask("How many distinct rees46 users viewed a samsung product?", sample_con, None)
    viewed = rees[(rees.event_type == "view") & (rees.brand == "samsung")]
    assert _figure(result) == viewed.user_id.nunique()


def test_the_leader_of_a_total(sample_con, rees) -> None:
    result = _dialogue(sample_con, "how many views on rees46", "top brand?")
    assert result.plan["group_by"] == ["brand"]
    assert result.rows[0]["brand"] == rees[rees.event_type == "view"].brand.value_counts().index[0]


@pytest.mark.parametrize("question", [
    "How many rees46 users favourited a product?",
    "how many items were added to wishlists on rees46",
    "How many taobao users bought something on November 11, 2017?",
    "which seller has the best ratings in MI",
    "do vip members buy more on taobao",
])
def test_what_the_sources_never_logged_is_refused(sample_con, question: str) -> None:
    result = ask(question, sample_con, None)
    assert not result.answerable, result.answer


def test_a_best_seller_is_a_product_not_a_seller(sample_con) -> None:
    result = ask("whats the best seller category on tb (by buys)", sample_con, None)
    assert result.plan["group_by"] == ["category"]  # (the sample's groups are too small to show)
    assert "seller" not in (result.reason or "")


def test_a_day_known_by_its_name() -> None:
    assert find_dates("how many orders on singles day", TAOBAO_END)[:2] == (
        D(2017, 11, 11), D(2017, 11, 11))


def test_viewers_are_people_who_viewed(sample_con, rees) -> None:
    result = ask("unique viewers of electronics.smartphone on rees46", sample_con, None)
    viewed = rees[(rees.event_type == "view") & (rees.category_code == "electronics.smartphone")]
    assert _figure(result) == viewed.user_id.nunique()


def test_to_how_many_users_counts_the_buyers(sample_con, rees) -> None:
    result = ask("How many purchases were made on rees46, and by how many different users?",
                 sample_con, None)
    assert result.plan["metrics"] == ["purchases", "buyers"]
    bought = rees[rees.event_type == "purchase"]
    assert [result.rows[0]["purchases"], result.rows[0]["buyers"]] == [
        len(bought), bought.user_id.nunique()]


def test_traffic_sources_are_refused_but_a_brand_is_not(sample_con) -> None:
    assert not ask("What are the main traffic sources for taobao?", sample_con, None).answerable
    assert "referrers" not in (ask("how many purchases came from apple on rees46", sample_con,
                                   None).reason or "")


def test_the_day_after_the_day_a_ranking_found(sample_con) -> None:
    raw = pd.read_csv(SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", header=0,
                      names=["user", "item", "category", "behavior", "ts"])
    views = raw[raw.behavior == "pv"]
    per_day = pd.to_datetime(views.ts, unit="s", utc=True).dt.date.value_counts()
    result = _dialogue(sample_con, "which day had the most page views on taobao",
                       "how many views the day after?")
    after = per_day.index[0] + dt.timedelta(days=1)
    assert result.plan["group_by"] == []
    assert result.plan["filters"]["date_from"] == after.isoformat()
    assert _figure(result) == per_day.get(after, 0)


def test_members_of_a_segment_are_no_membership(sample_con) -> None:
    result = ask("how many members does segment 1 have", sample_con, None)
    assert "memberships" not in (result.reason or "")


def test_a_count_and_the_total_value_asked_together(sample_con, rees) -> None:
    result = ask("how many purchases and what was their total value on rees46", sample_con, None)
    assert result.plan["metrics"] == ["purchases", "revenue"]
    bought = rees[rees.event_type == "purchase"]
    assert result.rows[0]["purchases"] == len(bought)
    assert result.rows[0]["revenue"] == pytest.approx(bought.price.sum())
