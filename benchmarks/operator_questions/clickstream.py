"""The two clickstreams (taobao, rees46) and the questions asked of both in the same words.

A `Clickstream` names the raw frame of a source and the values its event-type column gives the
event kinds the questions speak of (purchase, view, cart, fav). `register_common` registers, for
one clickstream, the gold functions of its canonical questions that read the same way on either
source: `<prefix>_events` (rows), `<prefix>_users` (distinct users), per event kind the rows
(`_purchases`, `_views`, `_carts`, `_favs`) and the distinct users (`_buyers`, `_cart_users`,
`_fav_users`), and `<prefix>_cart_rate` (cart rows / view rows). `register_without` registers
a set difference: the users with a row of one kind and none of another.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from benchmarks.operator_questions.raw import Raw, register, register_distinct
from benchmarks.operator_questions.records import Record, count, number


@dataclass(frozen=True)
class Clickstream:
    """A clickstream source: the `Raw` frame of that name and its event-type column's values."""

    source: str
    type_column: str
    kinds: dict[str, str]
    """event kind (purchase, view, cart, fav) → the value of `type_column`."""

    @property
    def filters(self) -> dict[str, Any]:
        """The filters every question about this source implies."""
        return {"source": self.source}

    def frame(self, raw: Raw) -> pd.DataFrame:
        """Every row of the raw file."""
        return getattr(raw, self.source)

    def of(self, raw: Raw, kind: str) -> pd.DataFrame:
        """The rows of one event kind."""
        frame = self.frame(raw)
        return frame[frame[self.type_column] == self.kinds[kind]]

    def users(self, raw: Raw, kind: str) -> set[int]:
        """The distinct users with a row of that kind."""
        return set(self.of(raw, kind)["user_id"])


TAOBAO = Clickstream("taobao", "behavior_type",
                     {"purchase": "buy", "view": "pv", "cart": "cart", "fav": "fav"})
REES46 = Clickstream("rees46", "event_type",
                     {"purchase": "purchase", "view": "view", "cart": "cart"})

ROWS = {"purchase": "purchases", "view": "views", "cart": "carts", "fav": "favs"}
"""Canonical-id suffix of "how many rows of this kind"."""
USERS = {"purchase": "buyers", "cart": "cart_users", "fav": "fav_users"}
"""Canonical-id suffix of "how many users with a row of this kind" (not asked for views)."""


def _rows(stream: Clickstream, raw: Raw) -> Record:
    return count(len(stream.frame(raw)))


def _kind_rows(stream: Clickstream, kind: str, raw: Raw) -> Record:
    return count(len(stream.of(raw, kind)))


def _kind_users(stream: Clickstream, kind: str, raw: Raw) -> Record:
    return count(len(stream.users(raw, kind)))


def _cart_rate(stream: Clickstream, raw: Raw) -> Record:
    return number(len(stream.of(raw, "cart")) / len(stream.of(raw, "view")), "fraction", 0.01)


def register_common(stream: Clickstream, prefix: str) -> None:
    """Register the questions asked alike of every clickstream, named `<prefix>_…`."""
    source = stream.filters
    register(f"{prefix}_events", partial(_rows, stream), source)
    register_distinct(stream.source, {f"{prefix}_users": "user_id"}, source)
    for kind in stream.kinds:
        implied = {**source, "event_type": kind}
        register(f"{prefix}_{ROWS[kind]}", partial(_kind_rows, stream, kind), implied)
        if kind in USERS:
            register(f"{prefix}_{USERS[kind]}", partial(_kind_users, stream, kind), implied)
    register(f"{prefix}_cart_rate", partial(_cart_rate, stream),
             {**source, "event_type": ["view", "cart"]})


def _without(stream: Clickstream, kind: str, excluded: str, raw: Raw) -> Record:
    return count(len(stream.users(raw, kind) - stream.users(raw, excluded)))


def register_without(stream: Clickstream, canonical: str, kind: str, excluded: str) -> None:
    """Register `canonical`: the users with a row of `kind` and no row of `excluded`."""
    register(canonical, partial(_without, stream, kind, excluded),
             {**stream.filters, "event_type": kind, "exclude_users_with": excluded})
