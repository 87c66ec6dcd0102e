"""Gold answers for the third development set (`questions_dev3.jsonl`), from the raw files.

The set is about the two kinds the first two sets hold least of: two-turn dialogues (a second
turn that changes the event kind, the metric, the grouping, the period by a relative word, the
source, or asks about "those" users) and questions the data cannot answer. Every canonical id
starts with `d3_` (see `gold.EXTENSION_PREFIXES`). Readings are those of the original set (see
`gold_taobao.py`, `gold_rees46.py`, `gold_musical.py`): UTC days, taobao `buy` / `pv` / `cart` /
`fav`, revenue = sum of purchase prices, a review = one JSON line. A dialogue's gold is the
answer to its second turn.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.operator_questions.clickstream import REES46, TAOBAO
from benchmarks.operator_questions.raw import MI, R46, TB, Raw, gold, register_unanswerable
from benchmarks.operator_questions.records import Record, compare, count, number, when, which


def _tb_day(raw: Raw, kind: str, day: str) -> pd.DataFrame:
    rows = TAOBAO.of(raw, kind)
    return rows[rows["day"] == day]


@gold({**TB, "event_type": "cart", "metric": "users"})
def d3_dlg_tb_carters(raw: Raw) -> Record:
    """Turn 1 asks the buyers; turn 2 "and how many carted?": distinct users with a cart row."""
    return count(len(TAOBAO.users(raw, "cart")))


@gold({**R46, "event_type": "purchase", "category": "electronics.smartphone"})
def d3_dlg_r46_smartphone_revenue(raw: Raw) -> Record:
    """Turn 1 asks the revenue; turn 2 "just smartphones?": purchase prices summed over
    category_code electronics.smartphone."""
    bought = REES46.of(raw, "purchase")
    return number(bought.loc[bought["category_code"] == "electronics.smartphone", "price"].sum(),
                  "currency")


@gold({**TB, "event_type": "view", "group_by": "category", "n": 3})
def d3_dlg_tb_top3_categories_views(raw: Raw) -> Record:
    """Turn 1 asks the most viewed category; turn 2 "top 3?": the 3 categories with most `pv`
    (the most viewed item is one user's 31 views: a group the assistant withholds)."""
    return which(TAOBAO.of(raw, "view").groupby("category_id").size(), n=3)


@gold({**MI, "year": 2014})
def d3_dlg_mi_reviews_2014(raw: Raw) -> Record:
    """Turn 1 asks the reviews of 2013; turn 2 "and the year after?": reviews in 2014."""
    return count(len(raw.musical_in(2014)))


@gold({**TB, "event_type": "view", "day": "2017-12-01"})
def d3_dlg_tb_views_day_before(raw: Raw) -> Record:
    """Turn 1 asks the views of 2017-12-02; turn 2 "and the day before?": `pv` on 2017-12-01."""
    return count(len(_tb_day(raw, "view", "2017-12-01")))


@gold({**R46, "event_type": "purchase", "group_by": "brand"})
def d3_dlg_r46_top_brand_purchases(raw: Raw) -> Record:
    """Turn 1 asks the most viewed brand; turn 2 "and by purchases?": the brand with most
    purchase rows (rows without a brand are not a brand)."""
    bought = REES46.of(raw, "purchase")
    return which(bought.dropna(subset=["brand"]).groupby("brand").size())


@gold({**MI, "year": 2012})
def d3_dlg_mi_reviews_2012(raw: Raw) -> Record:
    """Turn 1 asks the mean rating of 2012; turn 2 "how many reviews was that?": reviews in
    2012."""
    return count(len(raw.musical_in(2012)))


@gold({**TB, "event_type": "purchase", "day": "2017-12-01", "metric": "users"})
def d3_dlg_tb_buyers_dec1(raw: Raw) -> Record:
    """Turn 1 asks the buys of 2017-12-01; turn 2 "by how many people?": distinct buyers that
    day."""
    return count(_tb_day(raw, "purchase", "2017-12-01")["user_id"].nunique())


@gold({**TB, "event_type": "purchase"})
def d3_dlg_source_swap(raw: Raw) -> Record:
    """Turn 1 asks the purchases of rees46; turn 2 "and in taobao?": taobao `buy` rows."""
    return count(len(TAOBAO.of(raw, "purchase")))


@gold({**R46, "event_type": "purchase", "users": "cart"})
def d3_dlg_r46_carters_bought_share(raw: Raw) -> Record:
    """Turn 1 asks the users who carted; turn 2 "what % of them bought?": carting users with a
    purchase row / carting users."""
    carters = REES46.users(raw, "cart")
    return number(len(carters & REES46.users(raw, "purchase")) / len(carters), "fraction", 0.01)


@gold({**MI, "rating": 5})
def d3_dlg_mi_five_star_share(raw: Raw) -> Record:
    """Turn 1 asks the 5-star reviews; turn 2 "what share of all reviews is that?"."""
    return number((raw.musical["overall"] == 5).mean(), "fraction", 0.01)


@gold({**R46, "event_type": "purchase", "brand": "samsung", "metric": "mean price"})
def d3_dlg_r46_samsung_mean_price(raw: Raw) -> Record:
    """Turn 1 asks the mean price of purchased products; turn 2 "and for samsung?"."""
    bought = REES46.of(raw, "purchase")
    return number(bought.loc[bought["brand"] == "samsung", "price"].mean(), "currency")


@gold({**MI, "year": 2013, "group_by": "item"})
def d3_dlg_mi_top_item_2013(raw: Raw) -> Record:
    """Turn 1 asks the most reviewed asin; turn 2 "in 2013?": the asin with most 2013 reviews."""
    return which(raw.musical_in(2013).groupby("asin").size())


@gold({**TB, "event_type": "fav", "users": "without purchase"})
def d3_dlg_tb_favers_never_bought(raw: Raw) -> Record:
    """Turn 1 asks the users who favourited; turn 2 "how many of them never bought?"."""
    return count(len(TAOBAO.users(raw, "fav") - TAOBAO.users(raw, "purchase")))


@gold({**TB, "event_type": "view", "group_by": "day"})
def d3_dlg_tb_peak_view_day(raw: Raw) -> Record:
    """Turn 1 asks the day with most buys; turn 2 "and the most views?": the UTC day with
    most `pv` rows."""
    days = TAOBAO.of(raw, "view").groupby("day").size()
    return when(str(days.idxmax()), days.max())


@gold({**R46, "event_type": "view", "category": "computers.notebook"})
def d3_dlg_r46_notebook_views(raw: Raw) -> Record:
    """Turn 1 asks the smartphone views; turn 2 "and notebooks?": view rows of
    computers.notebook."""
    return count((REES46.of(raw, "view")["category_code"] == "computers.notebook").sum())


@gold({**TB, "event_type": "purchase", "day": ["2017-12-01", "2017-12-02"]})
def d3_dlg_tb_buys_dec2_vs_dec1(raw: Raw) -> Record:
    """Turn 1 asks the buys of 2017-12-01; turn 2 "was dec 2 higher or lower?": the two days
    compared (second side against the first)."""
    values = [len(_tb_day(raw, "purchase", d)) for d in ("2017-12-01", "2017-12-02")]
    return compare(["2017-12-01", "2017-12-02"], values, "count",
                   {"2017-12-01": ["december 1", "dec 1", "12/1"],
                    "2017-12-02": ["december 2", "dec 2", "12/2"]})


@gold({**TB, "event_type": "purchase", "day": ["2017-12-02", "2017-12-03"]})
def d3_dlg_tb_buys_dec3_vs_day_before(raw: Raw) -> Record:
    """Turn 1 asks the buys of 2017-12-03; turn 2 "compared with the day before?": the two days
    compared (the later day against the earlier one)."""
    values = [len(_tb_day(raw, "purchase", d)) for d in ("2017-12-02", "2017-12-03")]
    return compare(["2017-12-02", "2017-12-03"], values, "count",
                   {"2017-12-02": ["december 2", "dec 2", "12/2"],
                    "2017-12-03": ["december 3", "dec 3", "12/3"]})


@gold({"event_type": "purchase"})
def d3_dlg_all_sources_purchases(raw: Raw) -> Record:
    """Turn 1 asks the purchases of rees46; turn 2 "and across all sources?": purchase rows of
    both clickstreams (the review set has none)."""
    return count(len(REES46.of(raw, "purchase")) + len(TAOBAO.of(raw, "purchase")))


@gold({**TB, "metric": "purchases per user"})
def d3_dlg_tb_purchases_per_user(raw: Raw) -> Record:
    """Turn 1 asks the taobao buys; turn 2 "how many is that per user?": buy rows / every
    taobao user."""
    return number(len(TAOBAO.of(raw, "purchase")) / raw.taobao["user_id"].nunique(), "count")


# --- unanswerable ---------------------------------------------------------------------------

_MISSING = {
    "d3_u_age": "no source records a user's age or birth date",
    "d3_u_gender": "no source records a user's gender",
    "d3_u_returns": "no source records returns, refunds or cancellations",
    "d3_u_profit": "no source records costs, so no profit or margin",
    "d3_u_location": "no source records a user's city, region or country",
    "d3_u_stock": "no source records stock or inventory",
    "d3_u_search": "no source records search queries",
    "d3_u_taobao_ratings": "taobao has no ratings or reviews (only pv / cart / fav / buy)",
    "d3_u_taobao_prices": "taobao has no prices, so no revenue or order value",
    "d3_u_out_of_range": "the period asked is outside every source's data (the answer is not 0)",
    "d3_u_campaigns": "no source records e-mails, campaigns, ads or their clicks",
}


register_unanswerable(_MISSING)
