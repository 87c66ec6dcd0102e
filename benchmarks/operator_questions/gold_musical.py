"""Gold answers for the Musical Instruments questions (raw 2014 5-core JSON lines, pandas),
and the unanswerable questions.

Readings: a review is one JSON line (no duplicate reviewer-item pairs exist); rating =
`overall`; years, months and days are UTC dates of `unixReviewTime` (they equal `reviewTime`
on every line); "helpful votes" = the first element of `helpful`.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.operator_questions.raw import Raw, gold, register_distinct, register_unanswerable
from benchmarks.operator_questions.records import (
    Record,
    compare,
    count,
    number,
    pair,
    when,
    which,
)

MI = {"source": "musical_instruments"}


# --- plain / casual -------------------------------------------------------------------------

register_distinct("musical", {"mi_reviewers": "reviewerID", "mi_items": "asin"}, MI)


@gold(MI)
def mi_reviews(raw: Raw) -> Record:
    """Review lines."""
    return count(len(raw.musical))


@gold({**MI, "metric": "mean(rating)"})
def mi_avg_rating(raw: Raw) -> Record:
    """Mean `overall`."""
    return number(raw.musical["overall"].mean(), "rating")


@gold({**MI, "rating": 5})
def mi_five_star_share(raw: Raw) -> Record:
    """Share of reviews with rating 5."""
    return number((raw.musical["overall"] == 5).mean(), "fraction", 0.01)


@gold({**MI, "rating": 1})
def mi_one_star(raw: Raw) -> Record:
    """Reviews with rating 1."""
    return count((raw.musical["overall"] == 1).sum())


@gold({**MI, "year": 2013})
def mi_reviews_2013(raw: Raw) -> Record:
    """Reviews dated 2013."""
    return count(len(raw.musical_in(2013)))


@gold({**MI, "group_by": "item"})
def mi_top_item(raw: Raw) -> Record:
    """asin with the most reviews."""
    return which(raw.musical.groupby("asin").size())


@gold(MI)
def mi_reviews_per_user(raw: Raw) -> Record:
    """Mean reviews per reviewer."""
    return number(raw.musical.groupby("reviewerID").size().mean(), "count")


@gold(MI)
def mi_first_review(raw: Raw) -> Record:
    """Date of the oldest review."""
    days = raw.musical["ts"].dt.strftime("%Y-%m-%d")
    return when(days.min(), (days == days.min()).sum())


@gold(MI)
def mi_last_review(raw: Raw) -> Record:
    """Date of the newest review."""
    days = raw.musical["ts"].dt.strftime("%Y-%m-%d")
    return when(days.max(), (days == days.max()).sum())


@gold({**MI, "metric": "sum(helpful votes)"})
def mi_helpful_votes(raw: Raw) -> Record:
    """Sum of helpful[0]."""
    return count(raw.musical["helpful"].str[0].sum())


@gold({**MI, "rating": "<= 2"})
def mi_low_ratings(raw: Raw) -> Record:
    """Reviews rated 1 or 2."""
    return count((raw.musical["overall"] <= 2).sum())


@gold({**MI, "year": 2014, "metric": "mean(rating)"})
def mi_avg_rating_2014(raw: Raw) -> Record:
    """Mean rating of 2014 reviews."""
    return number(raw.musical_in(2014)["overall"].mean(), "rating")


@gold({**MI, "group_by": "reviewer"})
def mi_top_reviewer(raw: Raw) -> Record:
    """reviewerID with the most reviews."""
    return which(raw.musical.groupby("reviewerID").size())


@gold({**MI, "item": "B003VWJ2K8", "metric": "mean(rating)"})
def mi_top_item_rating(raw: Raw) -> Record:
    """Mean rating of asin B003VWJ2K8 (the most reviewed item)."""
    return number(raw.musical.loc[raw.musical["asin"] == "B003VWJ2K8", "overall"].mean(),
                  "rating")


# --- hard -----------------------------------------------------------------------------------

@gold({**MI, "year": 2014, "rating": 5})
def h_mi_2014_five_star_share(raw: Raw) -> Record:
    """Share of 2014 reviews rated 5."""
    return number((raw.musical_in(2014)["overall"] == 5).mean(), "fraction", 0.01)


@gold({**MI, "group_by": "month"})
def h_mi_busiest_month(raw: Raw) -> Record:
    """Calendar month (YYYY-MM) with the most reviews."""
    by_month = raw.musical.groupby(raw.musical["ts"].dt.strftime("%Y-%m")).size()
    return when(by_month.idxmax(), by_month.max())


@gold({**MI, "group_by": "week (ISO, Monday start)"})
def h_mi_busiest_week(raw: Raw) -> Record:
    """ISO week (named by its Monday, YYYY-MM-DD) with the most reviews."""
    days = raw.musical["ts"].dt.tz_localize(None).dt.normalize()
    monday = (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    by_week = raw.musical.groupby(monday).size()
    return when(by_week.idxmax(), by_week.max())


@gold({**MI, "year": [2013, 2014], "metric": "mean(rating)"})
def h_mi_rating_2013_vs_2014(raw: Raw) -> Record:
    """Mean rating 2013 vs 2014."""
    return compare(["2013", "2014"], [raw.musical_in(2013)["overall"].mean(),
                                      raw.musical_in(2014)["overall"].mean()], "rating", {},
                   tolerance=0.005)


@gold({**MI, "rating": 1, "group_by": "item"})
def h_mi_most_one_star_item(raw: Raw) -> Record:
    """asin(s) with the most 1-star reviews (ties included)."""
    ones = raw.musical[raw.musical["overall"] == 1]
    return which(ones.groupby("asin").size())


@gold(MI)
def h_mi_reviews_and_avg_rating(raw: Raw) -> Record:
    """[reviews, mean rating]."""
    return pair([len(raw.musical), raw.musical["overall"].mean()], ["count", "rating"])


@gold({**MI, "per_user_min": 10})
def h_mi_reviewers_10plus(raw: Raw) -> Record:
    """Reviewers with at least 10 reviews."""
    return count((raw.musical.groupby("reviewerID").size() >= 10).sum())


# --- dialogues (gold of the second turn) ----------------------------------------------------

@gold({**MI, "year": 2013, "metric": "mean(rating)"})
def dlg_mi_rating_2013(raw: Raw) -> Record:
    """Turn 1 asks the mean rating; turn 2 "and in 2013"."""
    return number(raw.musical_in(2013)["overall"].mean(), "rating")


@gold({**MI, "rating": 5})
def dlg_mi_five_star(raw: Raw) -> Record:
    """Turn 1 asks the review count; turn 2 how many of those are 5 stars."""
    return count((raw.musical["overall"] == 5).sum())


# --- unanswerable ---------------------------------------------------------------------------

_MISSING = {
    "u_age": "no source has a customer age or birth date",
    "u_gender": "no source has gender",
    "u_margin": "rees46 has sale prices only: no cost, so no profit or margin",
    "u_returns": "no source logs returns, refunds or cancellations",
    "u_weather": "no weather or location data; taobao has no location either",
    "u_nosource": "the named source (olist / retailrocket / ebay) is not in the data",
    "u_future": "the data ends in 2014 (reviews), 2017-12-03 (taobao) and 2019-10-01 02:50 UTC "
                "(rees46): later periods and forecasts of counts are not in it",
    "u_taobao_revenue": "taobao has no prices",
    "u_rees_ratings": "rees46 has no ratings or reviews",
    "u_location": "no source has a country, city or address",
    "u_marketing": "no spend, campaign or acquisition-cost data",
}


register_unanswerable(_MISSING)
