"""Gold answers for the REES46 questions, from the raw 2019-Oct head CSV with pandas.

Readings: revenue = sum of `price` over `purchase` rows (the currency is not named by the
source); an "order" / "sale" is one `purchase` row (there is no order id; a purchase is one row
per product) except for average order value, where an order is one (user, session) with a
purchase; a "user" / "customer" is a distinct `user_id`; category = `category_code`, and the
`category_id` where the code is empty (as the source's own category); brands are the non-empty
`brand` values. The 5 surplus exact-duplicate rows (4 views, 1 cart) are kept: the store logged
them and the README keeps them.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.operator_questions.clickstream import (
    REES46,
    TAOBAO,
    register_common,
    register_without,
)
from benchmarks.operator_questions.raw import Raw, gold, register_distinct
from benchmarks.operator_questions.records import Record, compare, count, number, pair, which

R46 = {"source": "rees46"}
_of, _users = REES46.of, REES46.users


def _revenue(frame: pd.DataFrame) -> float:
    return float(frame.loc[frame["event_type"] == "purchase", "price"].sum())


def _category(frame: pd.DataFrame) -> pd.Series:
    return frame["category_code"].fillna(frame["category_id"].astype("string"))


# --- plain / casual -------------------------------------------------------------------------

register_common(REES46, "r46")  # rows and users, per event kind too, and the cart rate
register_distinct("rees46", {"r46_sessions": "user_session", "r46_products": "product_id",
                             "r46_brands": "brand"}, R46)


@gold({**R46, "event_type": "purchase", "metric": "sum(price)"})
def r46_revenue(raw: Raw) -> Record:
    """Sum of purchase prices."""
    return number(_revenue(raw.rees46), "currency")


@gold({**R46, "event_type": "purchase", "metric": "mean(price)"})
def r46_avg_item_price_sold(raw: Raw) -> Record:
    """Mean price of a `purchase` row."""
    return number(_of(raw, "purchase")["price"].mean(), "currency")


@gold({**R46, "event_type": "purchase", "order": "user + session"})
def r46_aov(raw: Raw) -> Record:
    """Revenue / distinct (user, session) pairs with a purchase."""
    bought = _of(raw, "purchase")
    orders = len(bought[["user_id", "user_session"]].drop_duplicates())
    return number(bought["price"].sum() / orders, "currency")


@gold({**R46, "event_type": "purchase", "group_by": "brand", "metric": "sum(price)"})
def r46_top_brand_revenue(raw: Raw) -> Record:
    """Brand with the largest purchase revenue."""
    return which(_of(raw, "purchase").groupby("brand")["price"].sum(), value_unit="currency")


@gold({**R46, "event_type": "purchase", "group_by": "brand"})
def r46_top_brand_purchases(raw: Raw) -> Record:
    """Brand with the most `purchase` rows."""
    return which(_of(raw, "purchase").groupby("brand").size())


@gold({**R46, "event_type": "purchase", "group_by": "category"})
def r46_top_category_purchases(raw: Raw) -> Record:
    """Category (code, else id) with the most `purchase` rows."""
    bought = _of(raw, "purchase")
    return which(bought.groupby(_category(bought)).size())


@gold({**R46, "event_type": "purchase", "brand": "apple", "metric": "sum(price)"})
def r46_apple_revenue(raw: Raw) -> Record:
    """Purchase revenue of brand apple."""
    return number(_revenue(raw.rees46[raw.rees46["brand"] == "apple"]), "currency")


@gold({**R46, "event_type": "purchase", "brand": "samsung"})
def r46_samsung_purchases(raw: Raw) -> Record:
    """`purchase` rows of brand samsung."""
    return count((_of(raw, "purchase")["brand"] == "samsung").sum())


@gold({**R46, "event_type": "purchase", "metric": "max(price)"})
def r46_max_price_sold(raw: Raw) -> Record:
    """Highest price of a `purchase` row."""
    return number(_of(raw, "purchase")["price"].max(), "currency")


@gold({**R46, "event_type": "purchase", "category_code": "electronics.smartphone"})
def r46_smartphone_revenue(raw: Raw) -> Record:
    """Purchase revenue of category electronics.smartphone."""
    phones = raw.rees46[raw.rees46["category_code"] == "electronics.smartphone"]
    return number(_revenue(phones), "currency")


@gold({**R46, "event_type": "view", "group_by": "brand"})
def r46_top_brand_views(raw: Raw) -> Record:
    """Brand with the most `view` rows."""
    return which(_of(raw, "view").groupby("brand").size())


# --- hard -----------------------------------------------------------------------------------

register_without(REES46, "h_r46_buy_no_cart", "purchase", "cart")
register_without(REES46, "h_r46_view_no_buy", "view", "purchase")


@gold({**R46, "population": "buyers", "condition": "bought brand apple"})
def h_r46_buyers_apple_share(raw: Raw) -> Record:
    """Share of buying users with a purchase of brand apple."""
    bought = _of(raw, "purchase")
    apple = set(bought.loc[bought["brand"] == "apple", "user_id"])
    return number(len(apple) / bought["user_id"].nunique(), "fraction", 0.01)


@gold({**R46, "event_type": "purchase", "metric": "sum(price)",
       "hour_utc": ["00:00-01:00", "02:00-02:50"]})
def h_r46_rev_first_vs_last_hour(raw: Raw) -> Record:
    """Revenue 00:00-00:59:59 vs 02:00-02:49:59 UTC on 2019-10-01 (the slice's first and last
    hour; 01:00-02:00 is a near-empty logging gap with no purchase)."""
    hours = raw.rees46["ts"].dt.hour
    return compare(["first_hour", "last_hour"],
                   [_revenue(raw.rees46[hours == 0]), _revenue(raw.rees46[hours == 2])],
                   "currency", {"first_hour": ["first", "00:00-01:00", "hour 1", "midnight"],
                                "last_hour": ["last", "02:00-03:00", "02:00-02:50", "2am"]},
                   tolerance=0.005)


@gold({**R46, "event_type": "purchase", "brand": ["apple", "samsung"], "metric": "sum(price)"})
def h_r46_apple_vs_samsung_revenue(raw: Raw) -> Record:
    """Purchase revenue of apple vs samsung."""
    brand = raw.rees46["brand"]
    return compare(["apple", "samsung"], [_revenue(raw.rees46[brand == "apple"]),
                                          _revenue(raw.rees46[brand == "samsung"])],
                   "currency", {}, tolerance=0.005)


@gold({**R46, "event_type": "cart", "brand": ["samsung", "xiaomi"]})
def h_r46_samsung_vs_xiaomi_carts(raw: Raw) -> Record:
    """`cart` rows of samsung vs xiaomi."""
    brand = _of(raw, "cart")["brand"]
    return compare(["samsung", "xiaomi"], [(brand == "samsung").sum(), (brand == "xiaomi").sum()],
                   "count", {})


@gold({"source": ["taobao", "rees46"], "event_type": "purchase"})
def h_buyers_taobao_vs_rees46(raw: Raw) -> Record:
    """Distinct buying users: taobao (`buy`) vs rees46 (`purchase`)."""
    return compare(["taobao", "rees46"],
                   [len(TAOBAO.users(raw, "purchase")), len(_users(raw, "purchase"))], "count",
                   {"taobao": ["tb"], "rees46": ["rees"]})


@gold({**R46, "event_type": "purchase", "group_by": "product"})
def h_r46_best_selling_product(raw: Raw) -> Record:
    """Product id(s) with the most `purchase` rows (ties included)."""
    return which(_of(raw, "purchase").groupby("product_id").size())


@gold({**R46, "event_type": "purchase"})
def h_r46_revenue_and_purchases(raw: Raw) -> Record:
    """[revenue, purchase rows]."""
    return pair([_revenue(raw.rees46), len(_of(raw, "purchase"))], ["currency", "count"])


@gold({**R46, "event_type": ["view", "purchase"]})
def h_r46_view_to_purchase(raw: Raw) -> Record:
    """`purchase` rows / `view` rows."""
    return number(len(_of(raw, "purchase")) / len(_of(raw, "view")), "fraction", 0.01)


@gold({**R46, "per_user_min_sessions": 2})
def h_r46_multi_session_users(raw: Raw) -> Record:
    """Users with more than one distinct session."""
    return count((raw.rees46.groupby("user_id")["user_session"].nunique() > 1).sum())


# --- dialogues (gold of the second turn) ----------------------------------------------------

@gold({**R46, "event_type": "purchase", "brand": "apple", "metric": "sum(price)"})
def dlg_r46_apple_revenue(raw: Raw) -> Record:
    """Turn 1 asks samsung's revenue; turn 2 "same for apple"."""
    return number(_revenue(raw.rees46[raw.rees46["brand"] == "apple"]), "currency")


@gold({**R46, "event_type": "cart"})
def dlg_r46_carts(raw: Raw) -> Record:
    """Turn 1 asks views; turn 2 "what about carts"."""
    return count(len(_of(raw, "cart")))


@gold({**R46, "event_type": "purchase"})
def dlg_r46_top_brand_orders(raw: Raw) -> Record:
    """`purchase` rows of the brand with the largest revenue (turn 1's answer)."""
    bought = _of(raw, "purchase")
    top = bought.groupby("brand")["price"].sum().idxmax()
    return {**count((bought["brand"] == top).sum()), "filters_extra": {"brand": top}}


@gold({**R46, "population": "users with a cart", "event_type": "purchase"})
def dlg_r46_carters_bought(raw: Raw) -> Record:
    """Users with a `cart` row who also have a `purchase` row."""
    return count(len(_users(raw, "cart") & _users(raw, "purchase")))


@gold({**R46, "event_type": "purchase", "brand": "huawei"})
def dlg_r46_huawei_purchases(raw: Raw) -> Record:
    """Turn 1 asks xiaomi purchases; turn 2 "and huawei"."""
    return count((_of(raw, "purchase")["brand"] == "huawei").sum())
