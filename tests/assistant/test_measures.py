"""Means per user / session / item, prices, helpful votes, distinct things among one kind of
event, exact counts, minimum group sizes, two named days and yearly groups: read off the
question by code, compiled to SQL, and equal to the same figure computed with pandas from the
workspace's rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from assistant.analytics.plan import QueryPlan, UserCondition
from assistant.tools.ask import ask
from assistant.tools.measures import refine_measure
from assistant.tools.periods import find_dates, find_two_periods
from tests.assistant.toolkit import sample_con, sample_ws

__all__ = ["sample_con", "sample_ws"]


@pytest.mark.parametrize(("question", "metric", "event_type"), [
    ("avg carts per user tb", "carts_per_user", None),  # over all users: no event filter
    ("on avg how many times does a taobao user add to cart", "carts_per_user", None),
    ("views per session rees", "views_per_session", None),
    ("avg # of views in a rees46 session", "views_per_session", None),
    ("# sessions w/ a purchase", "sessions", "purchase"),
    ("how many rees46 sessions included a purchase?", "sessions", "purchase"),
    ("what is the average price of viewed products in rees46?", "mean_price", "view"),
    ("cheapest thing sold?", "min_purchase_price", None),
    ("avg reviews per asin", "reviews_per_item", None),
    ("avg helpful votes MI", "mean_helpful_votes", None),
    ("how many reviews did nobody find helpful", "unhelpful_reviews", None),
    ("% of 1* reviews with a helpful vote MI", "helpful_review_share", None),
    ("# of unique items bought tb", "items", "purchase"),
    ("in how many categorys did ppl buy smth on taobao", "categories", "purchase"),
])
def test_measure_shapes(question: str, metric: str, event_type: str | None) -> None:
    found = refine_measure(question.lower())
    assert found is not None and (found.metric, found.event_type) == (metric, event_type)


@pytest.mark.parametrize("question", [
    "how many items were sold in rees46",  # the number of purchases
    "top 3 taobao categories by number of favourites",  # a ranking
    "purchases per category, top 5",  # a breakdown
    "which items with at least 10 reviews have the highest average rating",
])
def test_other_shapes_are_left_to_the_keywords(question: str) -> None:
    assert refine_measure(question.lower()) is None


def _events(con: Any, source: str) -> pd.DataFrame:
    return con.execute("SELECT * FROM events WHERE source = ?", [source]).df()


def _value(result: Any) -> float:
    assert result.answerable, result.answer
    (row,) = result.rows
    return float(next(v for k, v in row.items() if isinstance(v, (int, float))))


def test_means_and_distinct_counts_match_pandas(sample_con: Any) -> None:
    tb, r46 = _events(sample_con, "taobao"), _events(sample_con, "rees46")
    cases = [
        ("avg carts per user in taobao", (tb.event_type == "cart").sum() / tb.user_id.nunique()),
        ("how many distinct items were bought in taobao",
         tb[tb.event_type == "purchase"].item_id.nunique()),
        ("views per session in rees46",
         (r46.event_type == "view").sum() / r46.session_id.nunique()),
        ("how many rees46 sessions had a purchase",
         r46[r46.event_type == "purchase"].session_id.nunique()),
        ("average price of viewed products in rees46", r46[r46.event_type == "view"].price.mean()),
        ("lowest price paid in rees46", r46[r46.event_type == "purchase"].price.min()),
    ]
    for question, expected in cases:
        got = _value(ask(question, sample_con, None, min_group_size=1))
        assert got == pytest.approx(float(expected), rel=1e-9), question


def test_review_measures_match_pandas(sample_con: Any) -> None:
    reviews = sample_con.execute(
        "SELECT * FROM reviews WHERE source = 'musical_instruments'").df()
    votes = reviews.helpful_votes.fillna(0)
    cases = [
        ("avg reviews per item in musical instruments", len(reviews) / reviews.item_id.nunique()),
        ("average helpful votes per review in musical instruments", votes.mean()),
        ("how many musical instruments reviews have no helpful votes", (votes == 0).sum()),
    ]
    for question, expected in cases:
        got = _value(ask(question, sample_con, None, min_group_size=1))
        assert got == pytest.approx(float(expected), rel=1e-9), question


def test_exactly_once_buyers(sample_con: Any) -> None:
    tb = _events(sample_con, "taobao")
    per_user = tb[tb.event_type == "purchase"].groupby("user_id").size()
    result = ask("how many taobao users bought exactly once?", sample_con, None,
                 min_group_size=1)
    assert _value(result) == (per_user == 1).sum()
    assert "exactly 1 purchase event" in result.answer
    with pytest.raises(ValidationError):
        UserCondition(event_type="purchase", min_count=3, max_count=2)


def test_items_with_enough_reviews_rank_on_their_own(sample_con: Any) -> None:
    reviews = sample_con.execute(
        "SELECT * FROM reviews WHERE source = 'musical_instruments'").df()
    sizes = reviews.groupby("item_id").rating.agg(["size", "mean"])
    enough = sizes[sizes["size"] >= 5]
    best = enough["mean"].max()
    result = ask("which musical instruments items with at least 5 reviews have the highest "
                 "average rating?", sample_con, None, min_group_size=1)
    assert result.plan["min_rows"] == 5
    assert result.rows[0]["mean_rating"] == pytest.approx(best)
    assert result.rows[0]["item_id"] in set(enough[enough["mean"] == best].index)
    assert "among those with at least 5 reviews" in result.answer
    with pytest.raises(ValidationError):
        QueryPlan(metrics=["mean_rating"], min_rows=5)  # only groups have a size


def test_rankings_name_known_values(sample_con: Any) -> None:
    result = ask("which brand had the most add to cart events in taobao and rees46?",
                 sample_con, None, min_group_size=1)
    assert result.rows and all(r["brand"] is not None for r in result.rows)
    assert "(unknown)" not in result.answer


def test_month_and_year_forms() -> None:
    anchor = dt.date(2014, 7, 22)
    march = (dt.date(2014, 3, 1), dt.date(2014, 3, 31))
    assert find_dates("MI reviews in mar 2014", anchor)[:2] == march
    assert find_dates("# of reviews march '14", anchor)[:2] == march
    assert find_dates("unique reviewers 2013", anchor)[:2] == (dt.date(2013, 1, 1),
                                                               dt.date(2013, 12, 31))
    assert find_dates("how many users made 2000 events", anchor)[:2] == (None, None)


def test_two_named_days_are_compared_with_each_other(sample_con: Any) -> None:
    anchor = dt.date(2017, 12, 3)
    dec2, dec3 = dt.date(2017, 12, 2), dt.date(2017, 12, 3)
    assert find_two_periods("tb buys dec 2 vs dec 3", anchor) == ((dec3, dec3), (dec2, dec2))
    assert find_two_periods("from 12/1 to 12/3, up or down?", anchor)[1] == (
        dt.date(2017, 12, 1), dt.date(2017, 12, 1))
    assert find_two_periods("between 2017-11-25 and 2017-12-01", anchor) is None
    tb = _events(sample_con, "taobao")
    day = tb.ts.dt.tz_convert("UTC").dt.date
    days = sorted(set(day))
    first, last = days[0], days[-1]
    result = ask(f"were there more purchases in taobao on {first} or on {last}?", sample_con,
                 None, min_group_size=1)
    (row,) = result.rows
    bought = tb.event_type == "purchase"
    assert row["purchases"] == (bought & (day == last)).sum()
    assert row["purchases_previous"] == (bought & (day == first)).sum()
    assert result.periods["previous"] == [first.isoformat(), first.isoformat()]
    assert f"the other period, {first}" in result.answer


def test_yearly_groups(sample_con: Any) -> None:
    reviews = sample_con.execute(
        "SELECT * FROM reviews WHERE source = 'musical_instruments'").df()
    per_year = reviews.ts.dt.tz_convert("UTC").dt.year.value_counts()
    result = ask("which year had the most musical instruments reviews?", sample_con, None,
                 min_group_size=1)
    assert str(result.rows[0]["year"])[:4] == str(per_year.idxmax())
    assert f"is {per_year.idxmax()} ({per_year.max():,})" in result.answer


def test_active_in_one_period_and_absent_in_the_next(sample_con: Any) -> None:
    reviews = sample_con.execute(
        "SELECT user_id, ts FROM events WHERE source = 'musical_instruments' "
        "AND event_type = 'review'").df()
    year = reviews.ts.dt.tz_convert("UTC").dt.year
    then, later = set(reviews[year == 2013].user_id), set(reviews[year == 2014].user_id)
    result = ask("how many musical instruments reviewers wrote a review in 2013 but none in "
                 "2014?", sample_con, None, min_group_size=1)
    assert _value(result) == len(then - later) > 0
    assert "no review event in 2014" in result.answer
    with pytest.raises(ValidationError):
        UserCondition(never=True, date_from=dt.date(2014, 1, 1))  # a period has two ends


def test_people_who_bought_and_orders_are_two_metrics() -> None:
    from assistant.tools.resolve import metrics_asked_together

    assert metrics_asked_together("taobao: how many ppl bought and how many orders in total") \
        == ["buyers", "purchases"]
    assert metrics_asked_together("how many ppl bought in taobao") == []


def test_shares_of_sessions_match_pandas(sample_con: Any) -> None:
    r46 = _events(sample_con, "rees46")
    sessions = lambda kind: set(r46[r46.event_type == kind].session_id)  # noqa: E731
    carted, bought = sessions("cart"), sessions("purchase")
    cart_share = ask("% of carted sessions that bought rees46", sample_con, None)
    assert cart_share.plan["metrics"] == ["cart_session_purchase_rate"]
    assert _value(cart_share) == pytest.approx(len(carted & bought) / len(carted))
    converted = ask("what share of rees46 sessions had a purchase", sample_con, None)
    assert _value(converted) == pytest.approx(len(bought) / r46.session_id.nunique())
    # people described by their sessions stay a share of people
    assert refine_measure("what share of users with 2+ sessions bought") is None


def test_totals_of_events_and_reviews_asked_together(sample_con: Any) -> None:
    reviews = sample_con.execute(
        "SELECT * FROM reviews WHERE source = 'musical_instruments'").df()
    events = _events(sample_con, "musical_instruments")
    result = ask("How many reviewers and how many items are in musical instruments?",
                 sample_con, None)
    assert result.plan["metrics"] == ["reviewers", "items"] and len(result.sql) == 2
    assert result.rows == [{"reviewers": reviews.user_id.nunique(),
                            "items": events.item_id.nunique()}]
    # anything beyond plain totals across the two tables is refused by the plan itself
    with pytest.raises(ValidationError, match="read different tables"):
        QueryPlan.model_validate({"metrics": ["reviewers", "items"], "group_by": ["source"]})


def test_a_comparison_whose_sides_are_not_read_is_refused(sample_con: Any) -> None:
    result = ask("did rees46 make more revenue in its first hour or its last hour?",
                 sample_con, None)
    assert not result.answerable and "compares two things" in result.answer


def test_funnel_ratios_and_session_counts_match_pandas(sample_con: Any) -> None:
    r46 = _events(sample_con, "rees46")
    views, buys = (r46.event_type == "view").sum(), (r46.event_type == "purchase").sum()
    for question in ("rees views per purchase", "ratio of views to purchases rees46"):
        result = ask(question, sample_con, None)
        assert result.plan["metrics"] == ["views_per_purchase"], question
        assert _value(result) == pytest.approx(views / buys)
    ratio = ask("ratio of purchases to add-to-carts on rees46", sample_con, None)
    assert _value(ratio) == pytest.approx(buys / (r46.event_type == "cart").sum())
    assert _value(ask("# sessions rees", sample_con, None)) == r46.session_id.nunique()
    priciest = ask("What was the most expensive purchase on rees46?", sample_con, None)
    assert _value(priciest) == pytest.approx(r46[r46.event_type == "purchase"].price.max())


@pytest.mark.parametrize(("question", "metric"), [
    ("# purchasers rees", "buyers"),
    ("mean # of orders per purchasing user on taobao", "purchases_per_buyer"),
    ("MI 2* count", "review_count"),
    ("ppl w/ a fav tb", "users"),
    ("number of taobao shoppers who added something to favourites", "users"),
])
def test_people_and_counts_in_few_words(sample_con: Any, question: str, metric: str) -> None:
    result = ask(question, sample_con, None)
    assert result.plan is not None and result.plan["metrics"] == [metric], result.answer
    if metric == "users":
        assert result.plan["filters"]["event_type"] == ["fav"]
