"""Event-token inputs of the sequence-aware intent model, cut at any cut-off.

:class:`EventHistory` loads a source's timed events once (DuckDB, read-only), ordered per
user, and turns rows of ``(user, [item,] cut-off)`` into the token arrays that
:class:`predictors.models.intent_sequence.IntentSequenceModel` reads: only events strictly
before each row's cut-off are used, the most recent ``max_len`` of them, right-aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from core.errors import InputError

MICROS_PER_MINUTE = 60_000_000

_EVENTS_SQL = """
SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(item_id AS VARCHAR) AS item_id,
       event_type, epoch_us(ts) AS t, CAST(category AS VARCHAR) AS category
FROM events
WHERE source = $source AND ts IS NOT NULL
ORDER BY user_id, t, ordinal
"""


def gap_bucket(minutes: np.ndarray, n_buckets: int) -> np.ndarray:
    """Log2-scale bucket of "minutes before the cut-off": 0 for under a minute, then one
    bucket per doubling, the last one open-ended."""
    b = np.floor(np.log2(1.0 + np.maximum(minutes, 0.0))).astype(np.int64)
    return np.minimum(b, n_buckets - 1)


@dataclass
class SequenceTokens:
    """Token arrays for a batch of rows, each ``[rows, max_len]`` int64 (see the model)."""

    types: np.ndarray
    gaps: np.ndarray
    same_item: np.ndarray
    same_category: np.ndarray

    def __len__(self) -> int:
        return int(self.types.shape[0])


class EventHistory:
    """One source's timed events, per user in time order, for point-in-time token building."""

    def __init__(self, events: pd.DataFrame, source: str) -> None:
        if events.empty:
            raise InputError(f"source {source!r} has no timed events for the sequence model")
        self.source = source
        self.type_names: list[str] = sorted(events["event_type"].astype(str).unique())
        type_id = {name: i + 1 for i, name in enumerate(self.type_names)}
        self._types = events["event_type"].astype(str).map(type_id).to_numpy(np.int64)
        self._t = events["t"].to_numpy(np.int64)
        self._items = events["item_id"].to_numpy(object)
        categories = events["category"].fillna("").to_numpy(object)
        self._categories = categories
        users = events["user_id"].to_numpy(object)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        ends = np.r_[starts[1:], len(users)]
        self._slices = {users[s]: (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}
        known = events.loc[events["category"].notna(), ["item_id", "category"]]
        self._item_category = dict(zip(known["item_id"], known["category"], strict=True))

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, source: str) -> EventHistory:
        """All timed events of `source` from the workspace's ``events`` view."""
        events = con.execute(_EVENTS_SQL, {"source": source}).fetchdf()
        return cls(events, source)

    @property
    def n_types(self) -> int:
        """Event-type vocabulary size including padding id 0."""
        return len(self.type_names) + 1

    def tokens(self, users: pd.Series | np.ndarray, cutoffs_us: np.ndarray,
               items: pd.Series | np.ndarray | None = None, max_len: int = 64,
               n_gap_buckets: int = 16) -> SequenceTokens:
        """Token arrays for each row: the user's last `max_len` events before its cut-off,
        flagged against the row's candidate item and its category when `items` is given."""
        n = len(cutoffs_us)
        shape = (n, max_len)
        types = np.zeros(shape, np.int64)
        gaps = np.zeros(shape, np.int64)
        same_item = np.zeros(shape, np.int64)
        same_category = np.zeros(shape, np.int64)
        user_keys = np.asarray(users).astype(str)
        item_keys = None if items is None else np.asarray(items).astype(str)
        for row in range(n):
            start, end = self._slices.get(user_keys[row], (0, 0))
            cut = int(cutoffs_us[row])
            stop = start + int(np.searchsorted(self._t[start:end], cut, side="left"))
            first = max(start, stop - max_len)
            k = stop - first
            if k == 0:
                continue
            cols = slice(max_len - k, max_len)
            types[row, cols] = self._types[first:stop]
            minutes = (cut - self._t[first:stop]) / MICROS_PER_MINUTE
            gaps[row, cols] = gap_bucket(minutes, n_gap_buckets)
            if item_keys is not None:
                item = item_keys[row]
                same_item[row, cols] = self._items[first:stop] == item
                category = self._item_category.get(item)
                if category:
                    same_category[row, cols] = self._categories[first:stop] == category
        return SequenceTokens(types, gaps, same_item, same_category)
