"""The operator questions of the evaluation, each with a pandas function for its gold answer.

A mix of totals, per-source counts, funnel rates, top-1 groupings, time windows and
comparisons, and questions the data cannot answer. Gold functions take a `GoldData` and use
pandas only (see `gold.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from assistant.evaluation.gold import (
    Gold,
    GoldData,
    abandonment,
    between,
    change_top,
    count,
    order_value,
    repeat_rate,
    top,
)

GoldFn = Callable[[GoldData], Gold]


@dataclass(frozen=True)
class Question:
    """One evaluation question."""

    id: str
    kind: str  # total | per_source | funnel | top1 | time | compare | unanswerable | scores
    text: str
    gold: GoldFn
    needs_scores: bool = False
    paraphrased: bool = False  # worded without the keywords code pre-resolution knows


def _no(_: GoldData) -> Gold:
    return Gold(answerable=False)


def _week(g: GoldData, back: int = 0) -> tuple[dt.date, dt.date]:
    return g.window("taobao", 7, back)


def _tb_week(g: GoldData, back: int = 0):  # noqa: ANN202 - small helper
    start, end = _week(g, back)
    return between(g.ev("taobao"), start, end)


Q = Question
QUESTIONS: list[Question] = [
    # totals and per-source counts
    Q("t01", "total", "How many events are in taobao?", lambda g: Gold(len(g.ev("taobao")))),
    Q("t02", "total", "How many distinct users does rees46 have?",
      lambda g: Gold(g.ev("rees46").user_id.nunique())),
    Q("t03", "total", "How many purchases were made in taobao?",
      lambda g: Gold(count(g.ev("taobao"), "purchase"))),
    Q("t04", "total", "How many reviews does gift_cards have?",
      lambda g: Gold(len(g.rv("gift_cards")))),
    Q("t05", "total", "How many reviews were written for musical instruments?",
      lambda g: Gold(len(g.rv("musical_instruments")))),
    Q("t06", "total", "How many add-to-cart events happened in rees46?",
      lambda g: Gold(count(g.ev("rees46"), "cart"))),
    Q("t07", "total", "How many favourite events are there in taobao?",
      lambda g: Gold(count(g.ev("taobao"), "fav"))),
    Q("t08", "total", "How many product views does rees46 have?",
      lambda g: Gold(count(g.ev("rees46"), "view"))),
    Q("t09", "total", "How many events does the beauty source have?",
      lambda g: Gold(len(g.ev("beauty")))),
    Q("t10", "total", "How many distinct users are in magazines?",
      lambda g: Gold(g.ev("magazines").user_id.nunique())),
    Q("t11", "total", "What is the total revenue in rees46?",
      lambda g: Gold(float(g.ev("rees46", "purchase").price.sum()))),
    Q("t12", "total", "What is the average order value in rees46?",
      lambda g: Gold(order_value(g.ev("rees46")))),
    Q("t13", "total", "What is the average rating in gift cards?",
      lambda g: Gold(float(g.rv("gift_cards").rating.mean()))),
    Q("t14", "total", "What is the average review rating for magazines?",
      lambda g: Gold(float(g.rv("magazines").rating.mean()))),
    Q("t15", "total", "What is the mean rating in all_beauty?",
      lambda g: Gold(float(g.rv("all_beauty").rating.mean()))),
    Q("t16", "total", "How many customers bought something in rees46?",
      lambda g: Gold(g.ev("rees46", "purchase").user_id.nunique())),
    # groupings over sources
    Q("s01", "per_source", "Which source has the most events?",
      lambda g: top(g.events.groupby("source").size())),
    Q("s02", "per_source", "Which source has the most users?",
      lambda g: top(g.events.groupby("source").user_id.nunique())),
    Q("s03", "per_source", "Which source has the highest average rating?",
      lambda g: top(g.reviews.groupby("source").rating.mean())),
    Q("s04", "per_source", "Which source has the fewest reviews?",
      lambda g: top(g.reviews.groupby("source").size(), lowest=True)),
    # funnel rates
    Q("f01", "funnel", "What is the view-to-cart rate in taobao?",
      lambda g: Gold(count(g.ev("taobao"), "cart") / count(g.ev("taobao"), "view"))),
    Q("f02", "funnel", "What is the cart-to-purchase rate in rees46?",
      lambda g: Gold(count(g.ev("rees46"), "purchase") / count(g.ev("rees46"), "cart"))),
    Q("f03", "funnel", "What is the view to purchase conversion rate in taobao?",
      lambda g: Gold(count(g.ev("taobao"), "purchase") / count(g.ev("taobao"), "view"))),
    Q("f04", "funnel", "What is the cart abandonment rate in taobao?",
      lambda g: Gold(abandonment(g.ev("taobao")))),
    Q("f05", "funnel", "What is the repeat purchase rate in taobao?",
      lambda g: Gold(repeat_rate(g.ev("taobao")))),
    Q("f06", "funnel", "What is the view-to-cart rate in rees46?",
      lambda g: Gold(count(g.ev("rees46"), "cart") / count(g.ev("rees46"), "view"))),
    Q("f07", "funnel", "What share of taobao views turned into purchases?",
      lambda g: Gold(count(g.ev("taobao"), "purchase") / count(g.ev("taobao"), "view")),
      paraphrased=True),
    Q("t17", "total", "What's the typical star score on magazines?",
      lambda g: Gold(float(g.rv("magazines").rating.mean())), paraphrased=True),
    Q("f08", "funnel", "What fraction of taobao add-to-cart events ended in a purchase?",
      lambda g: Gold(count(g.ev("taobao"), "purchase") / count(g.ev("taobao"), "cart")),
      paraphrased=True),
    Q("t18", "total", "How much money did rees46 shoppers spend in total?",
      lambda g: Gold(float(g.ev("rees46", "purchase").price.sum())), paraphrased=True),
    Q("t19", "total", "Among magazines reviewers, what score do they give on average?",
      lambda g: Gold(float(g.rv("magazines").rating.mean())), paraphrased=True),
    # top-1 groupings
    Q("g01", "top1", "Which category has the most purchases in rees46?",
      lambda g: top(g.ev("rees46", "purchase").groupby("category").size())),
    Q("g02", "top1", "Which brand has the highest revenue in rees46?",
      lambda g: top(g.ev("rees46", "purchase").groupby("brand").price.sum())),
    Q("g03", "top1", "Which brand has the most views in rees46?",
      lambda g: top(g.ev("rees46", "view").groupby("brand").size())),
    Q("g04", "top1", "Which category has the most events in taobao?",
      lambda g: top(g.ev("taobao").groupby("category").size())),
    Q("g05", "top1", "Which item has the most reviews in musical instruments?",
      lambda g: top(g.rv("musical_instruments").groupby("item_id").size())),
    Q("g06", "top1", "Which day had the most events in taobao?",
      lambda g: top(g.ev("taobao").groupby("day").size())),
    Q("g07", "top1", "Which month had the most reviews in gift cards?",
      lambda g: _month_top(g, "gift_cards")),
    Q("g08", "top1", "Which category has the most favourite events in taobao?",
      lambda g: top(g.ev("taobao", "fav").groupby("category").size())),
    Q("g09", "top1", "Which brand has the most purchases in rees46?",
      lambda g: top(g.ev("rees46", "purchase").groupby("brand").size())),
    # time windows and comparisons
    Q("d01", "time", "How many purchases were there in taobao on 2017-12-01?",
      lambda g: Gold(count(between(g.ev("taobao"), dt.date(2017, 12, 1), dt.date(2017, 12, 1)),
                           "purchase"))),
    Q("d02", "time", "How many users were active in taobao last week?",
      lambda g: Gold(_tb_week(g).user_id.nunique())),
    Q("d03", "time", "How many reviews did musical instruments get in 2013?",
      lambda g: Gold(len(between(g.rv("musical_instruments"), dt.date(2013, 1, 1),
                                 dt.date(2013, 12, 31))))),
    Q("d04", "time", "How many gift cards reviews were written in 2016?",
      lambda g: Gold(len(between(g.rv("gift_cards"), dt.date(2016, 1, 1),
                                 dt.date(2016, 12, 31))))),
    Q("c01", "compare", "How many purchases were there in taobao last week compared to the "
      "week before?", lambda g: Gold(count(_tb_week(g), "purchase"))),
    Q("c02", "compare", "Which category fell most in views last week in taobao?",
      lambda g: change_top(_tb_week(g)[_tb_week(g).event_type == "view"].groupby("category")
                           .size(), _tb_week(g, 1)[_tb_week(g, 1).event_type == "view"]
                           .groupby("category").size(), fell=True)),
    Q("c03", "compare", "Which category grew most in purchases last week in taobao?",
      lambda g: change_top(_tb_week(g)[_tb_week(g).event_type == "purchase"]
                           .groupby("category").size(),
                           _tb_week(g, 1)[_tb_week(g, 1).event_type == "purchase"]
                           .groupby("category").size(), fell=False)),
    Q("c04", "compare", "Did taobao views drop last week versus the previous week?",
      lambda g: Gold(count(_tb_week(g), "view"))),
    # unanswerable
    Q("u01", "unanswerable", "What is the revenue in taobao?", _no),
    Q("u02", "unanswerable", "What is the average age of our customers?", _no),
    Q("u03", "unanswerable", "How many female users does rees46 have?", _no),
    Q("u04", "unanswerable", "Which country buys the most gift cards?", _no),
    Q("u05", "unanswerable", "What is our profit margin in rees46?", _no),
    Q("u06", "unanswerable", "How many add-to-cart events are there in gift cards?", _no),
    # scores
    Q("p01", "scores", "How many users were scored in taobao?",
      lambda g: Gold(int((g.scores["source"] == "taobao").sum())), needs_scores=True),
    Q("p02", "scores", "What is the average predicted purchase intent of taobao users?",
      lambda g: _score_mean(g, "intent_p_any"), needs_scores=True),
    Q("p03", "scores", "Which segment has the most scored users in taobao?",
      lambda g: top(g.scores[g.scores["source"] == "taobao"].dropna(subset=["segment"])
                    .astype({"segment": "int64"}).groupby("segment").size()),
      needs_scores=True),
]


def _score_mean(g: GoldData, column: str) -> Gold:
    values = g.scores.loc[g.scores["source"] == "taobao", column].dropna()
    return Gold(float(values.mean())) if len(values) else Gold(answerable=False)


def _month_top(g: GoldData, source: str) -> Gold:
    frame = g.rv(source)
    months = frame["ts"].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    return top(frame.groupby(months).size())
