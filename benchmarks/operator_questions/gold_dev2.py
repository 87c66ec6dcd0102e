"""Gold answers for the second development set (`questions_dev2.jsonl`), from the raw files.

Every canonical id starts with `d2_` (see `gold.EXTENSION_PREFIXES`), so these never clash with
the frozen `questions.jsonl`, and `gold.py` checks each file against its own functions only.
Readings are those of the original set (see `gold_taobao.py`, `gold_rees46.py`,
`gold_musical.py`): UTC days, taobao `buy` / `pv` / `cart` / `fav`, rees46 category = code else
id, revenue = sum of purchase prices, a review = one JSON line, helpful votes = `helpful[0]`.
No gold depends on a group of fewer than 5 users (the size below which the assistant hides a
group), so a withheld answer is never the only right one.
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
    when,
    which,
)


def _tb(raw: Raw, kind: str) -> pd.DataFrame:
    return TAOBAO.of(raw, kind)


def _r46(raw: Raw, kind: str) -> pd.DataFrame:
    return REES46.of(raw, kind)


def _helpful(raw: Raw) -> pd.Series:
    return raw.musical["helpful"].str[0]


# --- plain / casual: taobao -----------------------------------------------------------------

@gold({**TB, "event_type": "fav", "day": "2017-12-02"})
def d2_tb_favs_dec2(raw: Raw) -> Record:
    """`fav` rows on 2017-12-02 (UTC)."""
    return count((_tb(raw, "fav")["day"] == "2017-12-02").sum())


@gold({**TB, "event_type": "purchase", "metric": "distinct items"})
def d2_tb_items_bought(raw: Raw) -> Record:
    """Distinct item ids with at least one `buy` row."""
    return count(_tb(raw, "purchase")["item_id"].nunique())


@gold({**TB, "event_type": "cart", "group_by": "category"})
def d2_tb_top_cat_carts(raw: Raw) -> Record:
    """Category id with the most `cart` rows."""
    return which(_tb(raw, "cart").groupby("category_id").size())


@gold({**TB, "day": "2017-11-30"})
def d2_tb_events_nov30(raw: Raw) -> Record:
    """All rows on 2017-11-30 (UTC)."""
    return count((raw.taobao["day"] == "2017-11-30").sum())


@gold({**TB, "event_type": "purchase", "metric": "distinct categories"})
def d2_tb_cats_bought(raw: Raw) -> Record:
    """Distinct category ids with at least one `buy` row."""
    return count(_tb(raw, "purchase")["category_id"].nunique())


@gold({**TB, "event_type": "cart", "metric": "per user"})
def d2_tb_carts_per_user(raw: Raw) -> Record:
    """`cart` rows / all users (every user, also those without a cart row)."""
    return number(len(_tb(raw, "cart")) / raw.taobao["user_id"].nunique(), "count")


# --- plain / casual: rees46 -----------------------------------------------------------------

@gold({**R46, "event_type": "purchase", "brand": "xiaomi", "metric": "sum(price)"})
def d2_r46_xiaomi_revenue(raw: Raw) -> Record:
    """Sum of price over `purchase` rows of brand xiaomi."""
    bought = _r46(raw, "purchase")
    return number(bought.loc[bought["brand"] == "xiaomi", "price"].sum(), "currency")


@gold({**R46, "event_type": "view", "metric": "mean(price)"})
def d2_r46_avg_view_price(raw: Raw) -> Record:
    """Mean price over `view` rows (row level; 0-priced rows kept)."""
    return number(_r46(raw, "view")["price"].mean(), "currency")


@gold({**R46, "event_type": "purchase", "category_code": "electronics.audio.headphone"})
def d2_r46_headphone_purchases(raw: Raw) -> Record:
    """`purchase` rows of category electronics.audio.headphone."""
    headphone = _r46(raw, "purchase")["category_code"] == "electronics.audio.headphone"
    return count(headphone.sum())


@gold({**R46, "event_type": "cart", "group_by": "brand"})
def d2_r46_top_brand_carts(raw: Raw) -> Record:
    """Brand with the most `cart` rows."""
    return which(_r46(raw, "cart").groupby("brand").size())


@gold({**R46, "event_type": "purchase", "metric": "distinct sessions"})
def d2_r46_sessions_with_purchase(raw: Raw) -> Record:
    """Distinct `user_session` values with a `purchase` row."""
    return count(_r46(raw, "purchase")["user_session"].nunique())


@gold({**R46, "event_type": "purchase", "metric": "min(price)"})
def d2_r46_min_price_sold(raw: Raw) -> Record:
    """Lowest price of a `purchase` row."""
    return number(_r46(raw, "purchase")["price"].min(), "currency")


@gold({**R46, "metric": "distinct categories"})
def d2_r46_categories(raw: Raw) -> Record:
    """Distinct categories: `category_code`, the `category_id` where the code is empty."""
    frame = raw.rees46
    return count(frame["category_code"].fillna(frame["category_id"].astype("string")).nunique())


# --- plain / casual: musical instruments ----------------------------------------------------

@gold({**MI, "month": "2014-03"})
def d2_mi_reviews_mar2014(raw: Raw) -> Record:
    """Reviews dated March 2014 (UTC)."""
    return count((raw.musical["ts"].dt.strftime("%Y-%m") == "2014-03").sum())


@gold({**MI, "metric": "mean(helpful votes)"})
def d2_mi_avg_helpful(raw: Raw) -> Record:
    """Mean helpful[0] per review."""
    return number(_helpful(raw).mean(), "count")


@gold({**MI, "metric": "reviews per item"})
def d2_mi_reviews_per_item(raw: Raw) -> Record:
    """Mean reviews per asin."""
    return number(raw.musical.groupby("asin").size().mean(), "count")


@gold({**MI, "helpful_votes": 0})
def d2_mi_no_helpful(raw: Raw) -> Record:
    """Reviews with helpful[0] == 0."""
    return count((_helpful(raw) == 0).sum())


@gold({**MI, "year": 2013, "group_by": "item"})
def d2_mi_top_item_2013(raw: Raw) -> Record:
    """asin with the most reviews dated 2013."""
    return which(raw.musical_in(2013).groupby("asin").size())


@gold({**MI, "year": 2014, "metric": "distinct reviewers"})
def d2_mi_reviewers_2014(raw: Raw) -> Record:
    """Distinct reviewers with a review dated 2014."""
    return count(raw.musical_in(2014)["reviewerID"].nunique())


@gold({**MI, "rating": 3})
def d2_mi_three_star(raw: Raw) -> Record:
    """Reviews rated 3."""
    return count((raw.musical["overall"] == 3).sum())


# --- hard -----------------------------------------------------------------------------------

@gold({**TB, "event_type": "fav", "exclude_users_with": "purchase"})
def d2_h_tb_fav_no_buy(raw: Raw) -> Record:
    """Users with a `fav` row and no `buy` row."""
    return count(len(TAOBAO.users(raw, "fav") - TAOBAO.users(raw, "purchase")))


@gold({**MI, "year": 2013, "exclude_users_with": "review in 2014"})
def d2_h_mi_2013_not_2014(raw: Raw) -> Record:
    """Reviewers with a 2013 review and no 2014 review."""
    before, after = (set(raw.musical_in(y)["reviewerID"]) for y in (2013, 2014))
    return count(len(before - after))


@gold({**R46, "population": "sessions with a cart", "condition": "has purchase"})
def d2_h_r46_cart_sessions_bought(raw: Raw) -> Record:
    """Share of sessions with a `cart` row that also have a `purchase` row."""
    carted = set(_r46(raw, "cart")["user_session"])
    return number(len(carted & set(_r46(raw, "purchase")["user_session"])) / len(carted),
                  "fraction", 0.01)


@gold({**MI, "rating": 1, "condition": "helpful votes >= 1"})
def d2_h_mi_one_star_helpful_share(raw: Raw) -> Record:
    """Share of 1-star reviews with at least one helpful vote."""
    ones = raw.musical["overall"] == 1
    return number((_helpful(raw)[ones] > 0).mean(), "fraction", 0.01)


@gold({**TB, "event_type": "cart", "group_by": "day"})
def d2_h_tb_busiest_cart_day(raw: Raw) -> Record:
    """UTC day with the most `cart` rows."""
    by_day = _tb(raw, "cart").groupby("day").size()
    return when(by_day.idxmax(), by_day.max())


@gold({**MI, "group_by": "year"})
def d2_h_mi_busiest_year(raw: Raw) -> Record:
    """Calendar year with the most reviews."""
    by_year = raw.musical.groupby(raw.musical["ts"].dt.strftime("%Y")).size()
    return when(by_year.idxmax(), by_year.max())


@gold({**TB, "event_type": "purchase", "day": ["2017-12-02", "2017-12-03"]})
def d2_h_tb_buys_dec2_vs_dec3(raw: Raw) -> Record:
    """`buy` rows on 2017-12-02 vs 2017-12-03 (UTC days)."""
    days = _tb(raw, "purchase")["day"]
    return compare(["2017-12-02", "2017-12-03"],
                   [(days == "2017-12-02").sum(), (days == "2017-12-03").sum()], "count",
                   {"2017-12-02": ["dec 2", "december 2", "12/2"],
                    "2017-12-03": ["dec 3", "december 3", "12/3"]})


@gold({**R46, "event_type": "view", "brand": ["huawei", "xiaomi"]})
def d2_h_r46_huawei_vs_xiaomi_views(raw: Raw) -> Record:
    """`view` rows of huawei vs xiaomi."""
    brand = _r46(raw, "view")["brand"]
    return compare(["huawei", "xiaomi"], [(brand == "huawei").sum(), (brand == "xiaomi").sum()],
                   "count", {})


@gold({**TB, "event_type": "fav", "group_by": "category", "top_n": 3})
def d2_h_tb_top3_cat_favs(raw: Raw) -> Record:
    """Top 3 category ids by `fav` rows (ties at #3 included; there are none)."""
    return which(_tb(raw, "fav").groupby("category_id").size(), n=3)


@gold({**MI, "group_by": "item", "metric": "mean(rating)", "min_reviews": 10})
def d2_h_mi_best_rated_items(raw: Raw) -> Record:
    """asin(s) with the highest mean rating among items with at least 10 reviews (ties)."""
    stats = raw.musical.groupby("asin")["overall"].agg(["mean", "size"])
    return which(stats.loc[stats["size"] >= 10, "mean"], value_unit="rating")


@gold({**TB, "event_type": "purchase"})
def d2_h_tb_buyers_and_buys(raw: Raw) -> Record:
    """[distinct buying users, `buy` rows]."""
    buys = _tb(raw, "purchase")
    return pair([buys["user_id"].nunique(), len(buys)], ["count", "count"])


@gold(MI)
def d2_h_mi_reviewers_and_items(raw: Raw) -> Record:
    """[distinct reviewers, distinct asins]."""
    return pair([raw.musical["reviewerID"].nunique(), raw.musical["asin"].nunique()],
                ["count", "count"])


@gold({**R46, "event_type": "view", "metric": "per session"})
def d2_h_r46_views_per_session(raw: Raw) -> Record:
    """`view` rows / distinct sessions (all sessions)."""
    return number(len(_r46(raw, "view")) / raw.rees46["user_session"].nunique(), "count")


@gold({**TB, "event_type": "purchase", "per_user_exactly": 1})
def d2_h_tb_one_time_buyers(raw: Raw) -> Record:
    """Users with exactly one `buy` row."""
    return count((_tb(raw, "purchase").groupby("user_id").size() == 1).sum())


@gold({**R46, "event_type": "view", "per_user_min": 5})
def d2_h_r46_users_5plus_views(raw: Raw) -> Record:
    """Users with at least 5 `view` rows."""
    return count((_r46(raw, "view").groupby("user_id").size() >= 5).sum())


# --- dialogues (gold of the second turn) ----------------------------------------------------

@gold({**TB, "event_type": "cart", "day": "2017-12-01"})
def d2_dlg_tb_carts_dec1(raw: Raw) -> Record:
    """Turn 1 asks carts on 2017-12-02; turn 2 "and on dec 1?"."""
    return count((_tb(raw, "cart")["day"] == "2017-12-01").sum())


@gold({**R46, "event_type": "view", "brand": "samsung"})
def d2_dlg_r46_samsung_views(raw: Raw) -> Record:
    """Turn 1 asks apple views; turn 2 "same for samsung"."""
    return count((_r46(raw, "view")["brand"] == "samsung").sum())


@gold({**MI, "rating": 4})
def d2_dlg_mi_four_star(raw: Raw) -> Record:
    """Turn 1 asks 1-star reviews; turn 2 "what about 4 stars?"."""
    return count((raw.musical["overall"] == 4).sum())


# --- unanswerable ---------------------------------------------------------------------------

_MISSING = {
    "d2_u_payment": "no source records a payment method (card, cash, wallet, instalments)",
    "d2_u_shipping": "no source records delivery, shipping or fulfilment times",
    "d2_u_device": "no source records the device, platform or channel (app vs web, mobile)",
    "d2_u_discount": "no source records coupons, discounts, promo codes or list vs paid price",
}


register_unanswerable(_MISSING)
