"""Gold answers for the Taobao questions, from the raw UserBehavior CSV with pandas.

Readings: purchase = `buy`, view = `pv`, cart = `cart`, favourite = `fav`; a "user" is a
distinct `user_id`; days and months are UTC calendar days of the Unix timestamp (the README
says the window is 2017-11-25 … 2017-12-03 China time, i.e. from 2017-11-24 16:00 UTC); the 35
out-of-window `pv` rows are kept, as every count over the raw file keeps them.
"""

from __future__ import annotations

from benchmarks.operator_questions.clickstream import TAOBAO, register_common, register_without
from benchmarks.operator_questions.raw import Raw, gold, register_distinct
from benchmarks.operator_questions.records import Record, compare, count, number, pair, when, which

TB = {"source": "taobao"}
_of, _users = TAOBAO.of, TAOBAO.users


# --- plain / casual -------------------------------------------------------------------------

register_common(TAOBAO, "tb")  # rows and users, per event kind too, and the cart rate
register_distinct("taobao", {"tb_items": "item_id", "tb_categories": "category_id"}, TB)


@gold(TB)
def tb_events_per_user(raw: Raw) -> Record:
    """Mean rows per user."""
    return number(raw.taobao.groupby("user_id").size().mean(), "count")


@gold({**TB, "event_type": "purchase"})
def tb_purchases_per_buyer(raw: Raw) -> Record:
    """Mean `buy` rows per user who bought at least once."""
    return number(_of(raw, "purchase").groupby("user_id").size().mean(), "count")


@gold({**TB, "event_type": "purchase", "day": "2017-12-01"})
def tb_buys_dec1(raw: Raw) -> Record:
    """`buy` rows on 2017-12-01 (UTC)."""
    buys = _of(raw, "purchase")
    return count((buys["day"] == "2017-12-01").sum())


@gold({**TB, "day": "2017-12-03"})
def tb_users_dec3(raw: Raw) -> Record:
    """Distinct users with any event on 2017-12-03 (UTC)."""
    return count(raw.taobao.loc[raw.taobao["day"] == "2017-12-03", "user_id"].nunique())


@gold({**TB, "event_type": "purchase", "group_by": "category"})
def tb_top_cat_purchases(raw: Raw) -> Record:
    """Category id with the most `buy` rows."""
    return which(_of(raw, "purchase").groupby("category_id").size())


@gold({**TB, "event_type": "view", "group_by": "category"})
def tb_top_cat_views(raw: Raw) -> Record:
    """Category id with the most `pv` rows."""
    return which(_of(raw, "view").groupby("category_id").size())


@gold(TB)
def tb_last_day(raw: Raw) -> Record:
    """UTC date of the newest event, with that day's event count."""
    last = raw.taobao["day"].max()
    return when(last, (raw.taobao["day"] == last).sum())


@gold({**TB, "event_type": "purchase"})
def tb_purchase_share(raw: Raw) -> Record:
    """`buy` rows / all rows."""
    return number(len(_of(raw, "purchase")) / len(raw.taobao), "fraction", 0.01)


# --- hard -----------------------------------------------------------------------------------

register_without(TAOBAO, "h_tb_cart_no_buy", "cart", "purchase")


@gold({**TB, "population": "buyers", "condition": "has cart"})
def h_tb_buyers_carted_share(raw: Raw) -> Record:
    """Share of buying users who also have a `cart` row."""
    buyers = _users(raw, "purchase")
    return number(len(buyers & _users(raw, "cart")) / len(buyers), "fraction", 0.01)


@gold({**TB, "group_by": "day"})
def h_tb_busiest_day(raw: Raw) -> Record:
    """UTC day with the most events."""
    by_day = raw.taobao.groupby("day").size()
    return when(by_day.idxmax(), by_day.max())


@gold({**TB, "event_type": "purchase", "group_by": "day"})
def h_tb_busiest_purchase_day(raw: Raw) -> Record:
    """UTC day with the most `buy` rows."""
    by_day = _of(raw, "purchase").groupby("day").size()
    return when(by_day.idxmax(), by_day.max())


@gold({**TB, "event_type": "purchase", "month": ["2017-11", "2017-12"]})
def h_tb_nov_vs_dec_purchases(raw: Raw) -> Record:
    """`buy` rows in November vs December 2017 (UTC calendar months)."""
    months = _of(raw, "purchase")["ts"].dt.strftime("%Y-%m")
    return compare(["november", "december"],
                   [(months == "2017-11").sum(), (months == "2017-12").sum()], "count",
                   {"november": ["nov", "2017-11", "november 2017"],
                    "december": ["dec", "2017-12", "december 2017"]})


@gold({**TB, "event_type": "purchase", "group_by": "category", "metric": "distinct buyers",
       "top_n": 3})
def h_tb_top3_cat_buyers(raw: Raw) -> Record:
    """Top 3 category ids by distinct buying users (ties at #3 included)."""
    return which(_of(raw, "purchase").groupby("category_id")["user_id"].nunique(), n=3)


@gold({**TB, "event_type": "purchase", "group_by": "item"})
def h_tb_most_bought_item(raw: Raw) -> Record:
    """Item id(s) with the most `buy` rows (ties included)."""
    return which(_of(raw, "purchase").groupby("item_id").size())


@gold(TB)
def h_tb_users_and_events(raw: Raw) -> Record:
    """[distinct users, rows]."""
    return pair([raw.taobao["user_id"].nunique(), len(raw.taobao)], ["count", "count"])


@gold({**TB, "event_type": ["cart", "purchase"]})
def h_tb_cart_to_purchase(raw: Raw) -> Record:
    """`buy` rows / `cart` rows (event level)."""
    return number(len(_of(raw, "purchase")) / len(_of(raw, "cart")), "fraction", 0.01)


@gold({**TB, "population": "all users", "condition": "has purchase"})
def h_tb_user_conversion(raw: Raw) -> Record:
    """Users with a `buy` / all users."""
    return number(len(_users(raw, "purchase")) / raw.taobao["user_id"].nunique(), "fraction", 0.01)


@gold({**TB, "event_type": "purchase", "per_user_min": 3})
def h_tb_users_3plus_buys(raw: Raw) -> Record:
    """Users with at least 3 `buy` rows."""
    return count((_of(raw, "purchase").groupby("user_id").size() >= 3).sum())


@gold(TB)
def h_tb_median_events_per_user(raw: Raw) -> Record:
    """Median rows per user."""
    return number(raw.taobao.groupby("user_id").size().median(), "count")


# --- dialogues (gold of the second turn) ----------------------------------------------------

@gold({**TB, "event_type": "purchase", "month": "2017-11"})
def dlg_tb_purchases_nov(raw: Raw) -> Record:
    """`buy` rows in November 2017 (UTC)."""
    return count((_of(raw, "purchase")["ts"].dt.strftime("%Y-%m") == "2017-11").sum())


@gold({**TB, "event_type": "purchase", "per_user_min": 2})
def dlg_tb_repeat_buyers(raw: Raw) -> Record:
    """Buyers with at least 2 `buy` rows."""
    return count((_of(raw, "purchase").groupby("user_id").size() >= 2).sum())


@gold({**TB, "event_type": "purchase"})
def dlg_tb_busiest_day_purchases(raw: Raw) -> Record:
    """`buy` rows on the UTC day with the most events (turn 1's answer)."""
    busiest = raw.taobao.groupby("day").size().idxmax()
    return {**count((_of(raw, "purchase")["day"] == busiest).sum()),
            "filters_extra": {"day": busiest}}
