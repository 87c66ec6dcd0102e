"""Gold answers for the fifth development set (`questions_dev5.jsonl`), from the raw files.

Written blind to the assistant's code and to the test half, with new subjects and wordings in
every kind: plain / casual, hard (all nine hard kinds), two-turn dialogues (the gold is the
answer to the second turn) and questions the data cannot answer. Every canonical id starts
with `d5_` (see `gold.EXTENSION_PREFIXES`). Readings are those of the original set (see
`gold_taobao.py`, `gold_rees46.py`, `gold_musical.py`): UTC days, weeks and months, taobao
`buy` / `pv` / `cart` / `fav`, rees46 category = code else id, revenue = sum of purchase
prices, a review = one JSON line, helpful votes = `helpful[0]`. No gold depends on a group of
fewer than 5 users.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.operator_questions.clickstream import REES46, TAOBAO
from benchmarks.operator_questions.raw import MI, R46, TB, Raw, gold, register_unanswerable
from benchmarks.operator_questions.records import (
    Record,
    compare,
    count,
    number,
    pair,
    which,
)

SMARTPHONE = "electronics.smartphone"


def _helpful(raw: Raw) -> pd.Series:
    """Helpful votes of each review: the first number of `helpful` ([helpful, total])."""
    return raw.musical["helpful"].str[0]


def _smartphones(raw: Raw, kind: str) -> pd.DataFrame:
    rows = REES46.of(raw, kind)
    return rows[rows["category_code"] == SMARTPHONE]


# --- plain / casual: taobao -----------------------------------------------------------------

@gold({**TB, "day": "2017-12-02", "metric": "users"})
def d5_tb_active_users_dec2(raw: Raw) -> Record:
    """Distinct users with any row on 2017-12-02 (UTC)."""
    return count(raw.taobao.loc[raw.taobao["day"] == "2017-12-02", "user_id"].nunique())


@gold({**TB, "users": "without purchase"})
def d5_tb_non_buyers(raw: Raw) -> Record:
    """Distinct users with no `buy` row (every user minus the buyers)."""
    return count(raw.taobao["user_id"].nunique() - len(TAOBAO.users(raw, "purchase")))


@gold({**TB, "event_type": "purchase", "metric": "share of events"})
def d5_tb_buy_share(raw: Raw) -> Record:
    """`buy` rows / all rows."""
    return number(len(TAOBAO.of(raw, "purchase")) / len(raw.taobao), "fraction", 0.01)


# --- plain / casual: rees46 -----------------------------------------------------------------

@gold({**R46, "event_type": "cart", "metric": "sum of price"})
def d5_r46_cart_value(raw: Raw) -> Record:
    """Sum of the prices of cart rows (the value put in carts)."""
    return number(REES46.of(raw, "cart")["price"].sum(), "currency")


@gold({**R46, "event_type": "purchase", "brand_empty": True})
def d5_r46_unbranded_purchases(raw: Raw) -> Record:
    """Purchase rows whose brand is empty (18 rows by 17 users)."""
    return count(REES46.of(raw, "purchase")["brand"].isna().sum())


@gold({**R46, "event_type": "view", "category": SMARTPHONE, "metric": "users"})
def d5_r46_smartphone_viewers(raw: Raw) -> Record:
    """Distinct users with a view row of category_code electronics.smartphone."""
    return count(_smartphones(raw, "view")["user_id"].nunique())


# --- plain / casual: musical instruments ----------------------------------------------------

@gold({**MI, "rating": 1, "metric": "distinct items"})
def d5_mi_one_star_items(raw: Raw) -> Record:
    """Distinct asins with at least one review of `overall` == 1."""
    return count(raw.musical.loc[raw.musical["overall"] == 1, "asin"].nunique())


@gold({**MI, "rating": [4, 5], "metric": "share"})
def d5_mi_positive_share(raw: Raw) -> Record:
    """Reviews with `overall` >= 4 / all reviews."""
    return number((raw.musical["overall"] >= 4).mean(), "fraction", 0.01)


@gold({**MI, "rating": 4, "year": 2013})
def d5_mi_four_star_2013(raw: Raw) -> Record:
    """Reviews dated in 2013 with `overall` == 4."""
    return count((raw.musical_in(2013)["overall"] == 4).sum())


# --- hard -----------------------------------------------------------------------------------

@gold({**TB, "event_type": "purchase", "exclude_users_with": "cart"})
def d5_h_tb_buyers_never_carted(raw: Raw) -> Record:
    """Users with a `buy` row and no `cart` row."""
    return count(len(TAOBAO.users(raw, "purchase") - TAOBAO.users(raw, "cart")))


@gold({**R46, "users": "viewed apple", "condition": "any purchase"})
def d5_h_r46_apple_viewers_bought(raw: Raw) -> Record:
    """Users with a view row of brand apple and a purchase row (of anything) / users with a
    view row of brand apple."""
    views = REES46.of(raw, "view")
    viewers = set(views.loc[views["brand"] == "apple", "user_id"])
    return number(len(viewers & REES46.users(raw, "purchase")) / len(viewers), "fraction", 0.01)


@gold({**MI, "group_by": "weekday"})
def d5_h_mi_peak_weekday(raw: Raw) -> Record:
    """The day of the week (English name, UTC review date) with the most reviews."""
    reviews = raw.musical
    return which(reviews.groupby(reviews["ts"].dt.day_name()).size())


@gold({**MI, "year": [2012, 2013], "metric": "mean rating"})
def d5_h_mi_rating_2012_vs_2013(raw: Raw) -> Record:
    """Mean `overall` of the 2012 reviews against the 2013 reviews."""
    means = [raw.musical_in(year)["overall"].mean() for year in (2012, 2013)]
    return compare(["2012", "2013"], means, "rating", {"2012": ["2012"], "2013": ["2013"]},
                   0.005)


@gold({**MI, "rating": [5, 1], "metric": "mean helpful votes"})
def d5_h_mi_helpful_5_vs_1(raw: Raw) -> Record:
    """Mean helpful votes of 5-star reviews against 1-star reviews."""
    helpful = _helpful(raw)
    stars = raw.musical["overall"]
    return compare(["5 stars", "1 star"], [helpful[stars == 5].mean(), helpful[stars == 1].mean()],
                   "count", {"5 stars": ["5-star", "5 star", "five star", "5*"],
                             "1 star": ["1-star", "one star", "1*"]}, 0.005)


@gold({**MI, "year": 2012, "group_by": "item", "n": 3})
def d5_h_mi_top3_items_2012(raw: Raw) -> Record:
    """The 3 asins with the most 2012 reviews (40, 34, then two tied at 20: four asins)."""
    return which(raw.musical_in(2012).groupby("asin").size(), n=3)


@gold({**R46, "event_type": "purchase", "category": SMARTPHONE,
       "metric": ["purchases", "users"]})
def d5_h_r46_smartphone_sales_and_buyers(raw: Raw) -> Record:
    """Smartphone purchase rows and the distinct users who made them, in that order."""
    bought = _smartphones(raw, "purchase")
    return pair([len(bought), bought["user_id"].nunique()], ["count", "count"])


@gold({**R46, "brand": "apple", "metric": "purchases per view"})
def d5_h_r46_apple_view_to_purchase(raw: Raw) -> Record:
    """Purchase rows of brand apple / view rows of brand apple."""
    apple = raw.rees46[raw.rees46["brand"] == "apple"]
    kinds = apple["event_type"]
    return number((kinds == "purchase").sum() / (kinds == "view").sum(), "fraction", 0.01)


@gold({**TB, "event_type": "purchase", "users": "3+ categories"})
def d5_h_tb_buyers_3plus_categories(raw: Raw) -> Record:
    """Users whose `buy` rows span at least 3 distinct category ids."""
    per_user = TAOBAO.of(raw, "purchase").groupby("user_id")["category_id"].nunique()
    return count((per_user >= 3).sum())


# --- dialogues (gold = the answer to turn 2) ------------------------------------------------

@gold({**TB, "event_type": "purchase", "week": "2017-11-20"})
def d5_dlg_tb_buys_week_before(raw: Raw) -> Record:
    """Turn 1 asks the buys of the ISO week of Monday 2017-11-27; turn 2 "and the week
    before?": `buy` rows in the ISO week of Monday 2017-11-20 (UTC; the data starts on
    2017-11-24 16:00 UTC, so the week is partial)."""
    bought = TAOBAO.of(raw, "purchase")
    monday = (bought["ts"].dt.normalize()
              - pd.to_timedelta(bought["ts"].dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    return count((monday == "2017-11-20").sum())


@gold({**R46, "event_type": "purchase", "brand": "apple", "metric": "users"})
def d5_dlg_r46_apple_buyers(raw: Raw) -> Record:
    """Turn 1 asks the users who bought samsung; turn 2 "same for apple": distinct users with
    a purchase row of brand apple."""
    bought = REES46.of(raw, "purchase")
    return count(bought.loc[bought["brand"] == "apple", "user_id"].nunique())


@gold({**R46, "event_type": "cart", "category": SMARTPHONE})
def d5_dlg_r46_smartphone_carts(raw: Raw) -> Record:
    """Turn 1 asks the smartphone purchases; turn 2 "what about carts": smartphone cart rows."""
    return count(len(_smartphones(raw, "cart")))


@gold({**MI, "rating": 1, "metric": "share of reviewers"})
def d5_dlg_mi_one_star_reviewer_share(raw: Raw) -> Record:
    """Turn 1 asks how many reviewers gave a 1-star review; turn 2 "what share is that of all
    reviewers": those reviewers / every reviewer."""
    reviews = raw.musical
    one_star = reviews.loc[reviews["overall"] == 1, "reviewerID"].nunique()
    return number(one_star / reviews["reviewerID"].nunique(), "fraction", 0.01)


@gold({**R46, "event_type": "purchase", "group_by": "brand", "metric": "revenue", "n": 3})
def d5_dlg_r46_top3_brands_revenue(raw: Raw) -> Record:
    """Turn 1 asks the brand with the most revenue; turn 2 "top 3 instead": the 3 brands with
    the highest sum of purchase prices (top 5 would hold brands of fewer than 5 buyers)."""
    bought = REES46.of(raw, "purchase").dropna(subset=["brand"])
    return which(bought.groupby("brand")["price"].sum(), n=3, value_unit="currency")


@gold({**R46, "event_type": "purchase", "category": SMARTPHONE, "group_by": "brand"})
def d5_dlg_r46_smartphone_top_brand(raw: Raw) -> Record:
    """Turn 1 asks the smartphones sold; turn 2 asks which brand sold the most of them: the
    brand with the most smartphone purchase rows."""
    bought = _smartphones(raw, "purchase").dropna(subset=["brand"])
    return which(bought.groupby("brand").size())


@gold({**TB, "event_type": "purchase", "month": "2017-11"})
def d5_dlg_tb_nov_buys(raw: Raw) -> Record:
    """Turn 1 asks the buys of December; turn 2 "and in november?": `buy` rows dated in
    November 2017 (UTC)."""
    bought = TAOBAO.of(raw, "purchase")
    return count((bought["ts"].dt.strftime("%Y-%m") == "2017-11").sum())


@gold({**TB, "event_type": ["cart", "fav"], "day": "2017-12-02"})
def d5_dlg_tb_carts_vs_favs_dec2(raw: Raw) -> Record:
    """Turn 1 asks the cart events of 2017-12-02; turn 2 "how does that compare to favs that
    day": `cart` rows against `fav` rows on 2017-12-02 (UTC)."""
    day = raw.taobao[raw.taobao["day"] == "2017-12-02"]["behavior_type"]
    return compare(["cart", "fav"], [(day == "cart").sum(), (day == "fav").sum()], "count",
                   {"cart": ["carts", "add to cart", "add-to-cart", "add-to-carts"],
                    "fav": ["favs", "favourites", "favorites"]})


@gold({**MI, "metric": "mean rating", "helpful": ">= 1"})
def d5_dlg_mi_rating_helpful(raw: Raw) -> Record:
    """Turn 1 asks the mean rating; turn 2 "only for reviews with at least one helpful vote":
    mean `overall` of the reviews with `helpful[0]` >= 1."""
    return number(raw.musical.loc[_helpful(raw) >= 1, "overall"].mean(), "rating")


@gold({**R46, "event_type": "purchase", "metric": "median price"})
def d5_dlg_r46_median_purchase_price(raw: Raw) -> Record:
    """Turn 1 asks the mean purchase price; turn 2 "and the median?": the median price of the
    purchase rows."""
    return number(REES46.of(raw, "purchase")["price"].median(), "currency")


@gold({**TB, "event_type": "view", "day": "2017-12-03"})
def d5_dlg_tb_views_day_after_peak(raw: Raw) -> Record:
    """Turn 1 asks the day with the most `pv` rows (2017-12-02); turn 2 "how many the day
    after?": `pv` rows on the next UTC day."""
    days = TAOBAO.of(raw, "view").groupby("day").size()
    peak = pd.Timestamp(days.idxmax())
    return count(days[(peak + pd.Timedelta(days=1)).strftime("%Y-%m-%d")])


# --- unanswerable ---------------------------------------------------------------------------

_MISSING = {
    "d5_u_forecast": "a forecast of future activity: every source records only the past "
                     "(the answer is not an extrapolated number)",
    "d5_u_mi_prices": "musical_instruments holds reviews only: no prices, sales or revenue",
    "d5_u_r46_ratings": "rees46 has no ratings or reviews (only view / cart / purchase)",
    "d5_u_r46_wishlist": "rees46 has no favourite / wishlist events (only view / cart / "
                         "purchase)",
    "d5_u_singles_day": "11 November 2017 (Singles' Day) is before the taobao window "
                        "(2017-11-25 to 2017-12-03 China time); the answer is not 0",
    "d5_u_seller": "no source records sellers, shops or merchants",
    "d5_u_referrer": "no source records traffic sources, referrers or search engines",
    "d5_u_membership": "no source records memberships, loyalty tiers or subscriptions",
}


register_unanswerable(_MISSING)
