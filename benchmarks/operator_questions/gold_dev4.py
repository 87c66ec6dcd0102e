"""Gold answers for the fourth development set (`questions_dev4.jsonl`), from the raw files.

Written after the third set, to look for general failures in plain, casual and harder
questions again with new subjects and wordings (the test half stays unread). Every canonical
id starts with `d4_` (see `gold.EXTENSION_PREFIXES`). Readings are those of the original set
(see `gold_taobao.py`, `gold_rees46.py`, `gold_musical.py`): UTC days, taobao `buy` / `pv` /
`cart` / `fav`, rees46 category = code else id, revenue = sum of purchase prices, a review =
one JSON line. No gold depends on a group of fewer than 5 users.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.operator_questions.clickstream import REES46, TAOBAO
from benchmarks.operator_questions.raw import MI, R46, TB, Raw, gold
from benchmarks.operator_questions.records import Record, compare, count, number, pair, when, which


def _r46_categories(rows: pd.DataFrame) -> pd.Series:
    """rees46 category: the code, else the numeric id (as the loader reads it)."""
    return rows["category_code"].fillna(rows["category_id"].astype(str))


# --- plain / casual: taobao -----------------------------------------------------------------

@gold({**TB, "event_type": "view", "day": "2017-11-28"})
def d4_tb_views_nov28(raw: Raw) -> Record:
    """`pv` rows on 2017-11-28 (UTC)."""
    return count((TAOBAO.of(raw, "view")["day"] == "2017-11-28").sum())


@gold({**TB, "event_type": "fav", "metric": "users"})
def d4_tb_fav_users(raw: Raw) -> Record:
    """Distinct users with a `fav` row."""
    return count(len(TAOBAO.users(raw, "fav")))


@gold({**TB, "event_type": "view", "metric": "distinct items"})
def d4_tb_items_viewed(raw: Raw) -> Record:
    """Distinct item ids with a `pv` row."""
    return count(TAOBAO.of(raw, "view")["item_id"].nunique())


@gold({**TB, "metric": "purchases per buyer"})
def d4_tb_buys_per_buyer(raw: Raw) -> Record:
    """`buy` rows / distinct users with a `buy` row."""
    bought = TAOBAO.of(raw, "purchase")
    return number(len(bought) / bought["user_id"].nunique(), "count")


@gold({**TB, "event_type": "fav", "group_by": "category"})
def d4_tb_top_cat_favs(raw: Raw) -> Record:
    """Category id with the most `fav` rows."""
    return which(TAOBAO.of(raw, "fav").groupby("category_id").size())


@gold({**TB, "day": "2017-12-03"})
def d4_tb_events_dec3(raw: Raw) -> Record:
    """All rows on 2017-12-03 (UTC)."""
    return count((raw.taobao["day"] == "2017-12-03").sum())


@gold({**TB, "metric": "cart_to_purchase_rate"})
def d4_tb_cart_to_buy_rate(raw: Raw) -> Record:
    """`buy` rows / `cart` rows."""
    return number(len(TAOBAO.of(raw, "purchase")) / len(TAOBAO.of(raw, "cart")), "fraction",
                  0.01)


# --- plain / casual: rees46 -----------------------------------------------------------------

@gold({**R46, "event_type": "purchase", "brand": "apple", "metric": "revenue"})
def d4_r46_apple_revenue(raw: Raw) -> Record:
    """Sum of the prices of apple purchase rows."""
    bought = REES46.of(raw, "purchase")
    return number(bought.loc[bought["brand"] == "apple", "price"].sum(), "currency")


@gold({**R46, "event_type": "purchase", "metric": "users"})
def d4_r46_buyers(raw: Raw) -> Record:
    """Distinct users with a purchase row."""
    return count(len(REES46.users(raw, "purchase")))


@gold({**R46, "event_type": "purchase", "metric": "max price"})
def d4_r46_max_price(raw: Raw) -> Record:
    """The highest price of a purchase row."""
    return number(REES46.of(raw, "purchase")["price"].max(), "currency")


@gold({**R46, "event_type": "view", "metric": "distinct brands"})
def d4_r46_brands_viewed(raw: Raw) -> Record:
    """Distinct non-empty brands among view rows."""
    return count(REES46.of(raw, "view")["brand"].dropna().nunique())


@gold({**R46, "event_type": "view", "group_by": "category"})
def d4_r46_top_cat_views(raw: Raw) -> Record:
    """The category (code, else id) with the most view rows."""
    views = REES46.of(raw, "view")
    return which(views.groupby(_r46_categories(views)).size())


@gold({**R46, "metric": "sessions"})
def d4_r46_sessions(raw: Raw) -> Record:
    """Distinct non-empty user_session values."""
    return count(raw.rees46["user_session"].dropna().nunique())


@gold({**R46, "event_type": "cart", "brand": "samsung"})
def d4_r46_samsung_carts(raw: Raw) -> Record:
    """Cart rows of brand samsung."""
    return count((REES46.of(raw, "cart")["brand"] == "samsung").sum())


# --- plain / casual: musical instruments ----------------------------------------------------

@gold({**MI, "year": 2011})
def d4_mi_reviews_2011(raw: Raw) -> Record:
    """Reviews dated in 2011 (UTC)."""
    return count(len(raw.musical_in(2011)))


@gold({**MI, "year": 2014, "metric": "mean rating"})
def d4_mi_rating_2014(raw: Raw) -> Record:
    """Mean `overall` of the reviews dated in 2014."""
    return number(raw.musical_in(2014)["overall"].mean(), "rating")


@gold({**MI, "rating": 2})
def d4_mi_two_star(raw: Raw) -> Record:
    """Reviews with `overall` == 2."""
    return count((raw.musical["overall"] == 2).sum())


# --- hard -----------------------------------------------------------------------------------

@gold({**R46, "users": "view without cart"})
def d4_h_r46_viewers_never_carted(raw: Raw) -> Record:
    """Users with a view row and no cart row."""
    return count(len(REES46.users(raw, "view") - REES46.users(raw, "cart")))


@gold({**TB, "users": "buyers", "condition": "fav"})
def d4_h_tb_buyers_who_faved(raw: Raw) -> Record:
    """Users with a `buy` row and a `fav` row / users with a `buy` row."""
    buyers = TAOBAO.users(raw, "purchase")
    return number(len(buyers & TAOBAO.users(raw, "fav")) / len(buyers), "fraction", 0.01)


@gold({**MI, "year": 2013, "group_by": "month"})
def d4_h_mi_peak_month_2013(raw: Raw) -> Record:
    """The month of 2013 with the most reviews."""
    reviews = raw.musical_in(2013)
    months = reviews.groupby(reviews["ts"].dt.strftime("%Y-%m")).size()
    return when(str(months.idxmax()), months.max())


@gold({**TB, "event_type": "view", "day": ["2017-11-30", "2017-12-01"]})
def d4_h_tb_views_nov30_vs_dec1(raw: Raw) -> Record:
    """`pv` rows on 2017-11-30 against 2017-12-01."""
    days = TAOBAO.of(raw, "view").groupby("day").size()
    return compare(["2017-11-30", "2017-12-01"], [days["2017-11-30"], days["2017-12-01"]],
                   "count", {"2017-11-30": ["november 30", "nov 30", "11/30"],
                             "2017-12-01": ["december 1", "dec 1", "12/1"]})


@gold({**R46, "event_type": "purchase", "brand": ["apple", "samsung"], "metric": "revenue"})
def d4_h_r46_apple_vs_samsung_revenue(raw: Raw) -> Record:
    """Revenue of apple against samsung purchases."""
    bought = REES46.of(raw, "purchase")
    revenue = bought.groupby("brand")["price"].sum()
    return compare(["apple", "samsung"], [revenue["apple"], revenue["samsung"]], "currency",
                   {"apple": ["apple"], "samsung": ["samsung"]}, 0.005)


@gold({**R46, "event_type": "cart", "group_by": "brand", "n": 3})
def d4_h_r46_top3_brands_carts(raw: Raw) -> Record:
    """The 3 brands with the most cart rows."""
    carts = REES46.of(raw, "cart").dropna(subset=["brand"])
    return which(carts.groupby("brand").size(), n=3)


@gold({**TB, "metric": ["views", "carts"]})
def d4_h_tb_views_and_carts(raw: Raw) -> Record:
    """`pv` rows and `cart` rows, in that order."""
    return pair([len(TAOBAO.of(raw, "view")), len(TAOBAO.of(raw, "cart"))], ["count", "count"])


@gold({**R46, "metric": "views per purchase"})
def d4_h_r46_views_per_purchase(raw: Raw) -> Record:
    """View rows / purchase rows."""
    return number(len(REES46.of(raw, "view")) / len(REES46.of(raw, "purchase")), "count")


@gold({**MI, "users": "10+ reviews"})
def d4_h_mi_reviewers_10plus(raw: Raw) -> Record:
    """Reviewers with at least 10 reviews."""
    return count((raw.musical.groupby("reviewerID").size() >= 10).sum())


@gold({**TB, "users": "5+ carts"})
def d4_h_tb_users_5plus_carts(raw: Raw) -> Record:
    """Users with at least 5 `cart` rows."""
    return count((TAOBAO.of(raw, "cart").groupby("user_id").size() >= 5).sum())
