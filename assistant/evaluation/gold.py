"""Independent gold answers: the workspace's Parquet files read with pandas.

Nothing here goes through the plan compiler or DuckDB views; each gold value is computed with
plain pandas from the files the manifest lists, so a compiler bug cannot hide in both sides.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from store.workspace import Workspace


@dataclass
class Gold:
    """The expected answer: a number and/or an entity, or "not answerable"."""

    value: float | None = None
    entity: str | None = None
    answerable: bool = True


class GoldData:
    """Lazily loaded pandas frames of one workspace."""

    def __init__(self, root: Path) -> None:
        self.ws = Workspace.open(root)

    def _read(self, table: str) -> pd.DataFrame:
        files = [str(self.ws.root / f) for f in self.ws.table_files(table)]
        if not files:
            return pd.DataFrame()
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

    @cached_property
    def events(self) -> pd.DataFrame:
        """All events; `day` added (UTC date)."""
        frame = self._read("events")
        frame["day"] = frame["ts"].dt.tz_convert("UTC").dt.date
        return frame

    @cached_property
    def reviews(self) -> pd.DataFrame:
        """All reviews; `day` added."""
        frame = self._read("reviews")
        frame["day"] = frame["ts"].dt.tz_convert("UTC").dt.date
        return frame

    @cached_property
    def scores(self) -> pd.DataFrame:
        """The user_scores table (empty when not scored)."""
        if "user_scores" not in self.ws.manifest["derived"]:
            return pd.DataFrame(columns=["source", "user_id"])
        return self._read("user_scores")

    def ev(self, source: str | None = None, event_type: str | None = None) -> pd.DataFrame:
        """Events of one source / type."""
        frame = self.events
        if source:
            frame = frame[frame["source"] == source]
        if event_type:
            frame = frame[frame["event_type"] == event_type]
        return frame

    def rv(self, source: str | None = None) -> pd.DataFrame:
        """Reviews of one source."""
        return self.reviews if source is None else self.reviews[self.reviews["source"] == source]

    def anchor(self, source: str) -> dt.date:
        """Newest event date of a source."""
        return max(d for d in self.ev(source)["day"] if d is not None and not pd.isna(d))

    def window(self, source: str, days: int, back: int = 0) -> tuple[dt.date, dt.date]:
        """`days` days ending `back` windows before the anchor (inclusive bounds)."""
        end = self.anchor(source) - dt.timedelta(days=days * back)
        return end - dt.timedelta(days=days - 1), end


def between(frame: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Rows whose `day` is in [start, end]."""
    return frame[(frame["day"] >= start) & (frame["day"] <= end)]


def count(frame: pd.DataFrame, event_type: str) -> int:
    """Events of one type."""
    return int((frame["event_type"] == event_type).sum())


def abandonment(frame: pd.DataFrame) -> float:
    """1 - share of carted (user, item) pairs that were also bought."""
    carted = set(map(tuple, frame.loc[frame.event_type == "cart", ["user_id", "item_id"]]
                     .drop_duplicates().to_numpy()))
    bought = set(map(tuple, frame.loc[frame.event_type == "purchase", ["user_id", "item_id"]]
                     .drop_duplicates().to_numpy()))
    return 1 - len(carted & bought) / len(carted)


def repeat_rate(frame: pd.DataFrame) -> float:
    """Users with 2+ purchases / users with 1+."""
    per_user = frame[frame.event_type == "purchase"].groupby("user_id").size()
    return float((per_user >= 2).sum() / (per_user >= 1).sum())


def order_value(frame: pd.DataFrame) -> float:
    """Revenue per order (order = user + session, or user + day without sessions)."""
    bought = frame[frame.event_type == "purchase"]
    key = bought["session_id"].fillna(bought["day"].astype(str))
    orders = len(set(zip(bought["user_id"], key, strict=True)))
    return float(bought["price"].sum() / orders)


def top(series: pd.Series, lowest: bool = False) -> Gold:
    """Top-1 key and value of a grouped series (ties broken by key, like the compiler)."""
    frame = series.rename("v").reset_index()
    key = frame.columns[0]
    frame = frame.sort_values(["v", key], ascending=[lowest, True])
    row = frame.iloc[0]
    return Gold(float(row["v"]), str(row[key]))


def change_top(current: pd.Series, previous: pd.Series, fell: bool) -> Gold:
    """Key with the largest fall (or rise) between two grouped counts; value = the change."""
    both = pd.concat([current.rename("c"), previous.rename("p")], axis=1).fillna(0)
    both["d"] = both["c"] - both["p"]
    both = both.reset_index()
    key = both.columns[0]
    both = both.sort_values(["d", key], ascending=[fell, True])
    row = both.iloc[0]
    return Gold(float(row["d"]), str(row[key]))
