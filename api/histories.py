"""Each user's events as the API sees them: the workspace's stored history plus live events.

A :class:`SourceData` is built from one manifest snapshot: the source's Parquet files (read
directly, so the history and the manifest's folded log offset agree) give every user's
ordered (item, event type, time) history and the item titles; the live events after the
folded offset are merged in by time. New events are added as they are accepted.

When the workspace changes (an ingest, or `insight api compact` folding the log), the
manifest's mtime changes; :class:`Histories` rebuilds that source's data from the new
snapshot aside and swaps it in, so folded events are never counted twice.

For the intent, churn and segment models, whose features are SQL over the whole source, the
same events are kept in an in-memory DuckDB table (only for sources with such a model).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from api.compact import folded_bytes
from api.event_log import LiveEvent, LoggedEvent
from core.errors import InputError
from store.schema import EVENTS, TS_TYPE
from store.workspace import MANIFEST, Workspace

log = logging.getLogger(__name__)

NO_TS = -(2**63)  # sort key of untimed events: before every timed one (NULLS FIRST)


def _epoch_us(ts: dt.datetime) -> int:
    return int(ts.timestamp() * 1_000_000) if ts.tzinfo else int(
        ts.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)


@dataclass
class UserHistory:
    """One user's events oldest first: item ids, event types and sort keys (epoch µs)."""

    items: list[str]
    kinds: list[str]
    keys: list[int]
    n_live: int = 0

    def add(self, item: str, kind: str, key: int) -> None:
        """Insert one event at its place in time (after events with the same time)."""
        at = bisect.bisect_right(self.keys, key)
        self.items.insert(at, item)
        self.kinds.insert(at, kind)
        self.keys.insert(at, key)
        self.n_live += 1

    def last_ts(self) -> dt.datetime | None:
        """Time of the latest timed event, if any."""
        key = self.keys[-1] if self.keys else NO_TS
        return None if key == NO_TS else dt.datetime.fromtimestamp(key / 1e6, dt.UTC)


class SourceData:
    """Histories, titles and (optionally) a DuckDB copy of one source's events."""

    def __init__(self, root: Path, source: str, with_sql: bool) -> None:
        ws = Workspace(root)
        if source not in ws.sources:
            raise InputError(f"unknown source {source!r}; known: {', '.join(sorted(ws.sources))}")
        self.source = source
        self.entry_key = json.dumps(ws.sources[source], sort_keys=True)
        self.folded = folded_bytes(ws, source)
        self.live_counter = 0
        self._lock = threading.Lock()
        files = [str(ws.root / p) for p in ws.sources[source]["tables"].get("events", [])]
        item_files = [str(ws.root / p) for p in ws.sources[source]["tables"].get("items", [])]
        self.users: dict[str, UserHistory] = {}
        self.titles: dict[str, str] = {}
        self.con: duckdb.DuckDBPyConnection | None = None
        self.con_lock = threading.Lock()
        self._read(files, item_files, with_sql)

    def _read(self, files: list[str], item_files: list[str], with_sql: bool) -> None:
        con = duckdb.connect()
        try:
            if files:
                rows = con.execute(f"""
                    SELECT user_id,
                           list(item_id ORDER BY ts NULLS FIRST, ordinal),
                           list(event_type ORDER BY ts NULLS FIRST, ordinal),
                           list(coalesce(epoch_us(ts), {NO_TS}) ORDER BY ts NULLS FIRST, ordinal)
                    FROM read_parquet({files!r}, union_by_name=true)
                    GROUP BY user_id""").fetchall()
                self.users = {str(u): UserHistory(list(i), list(k), list(t))
                              for u, i, k, t in rows}
            if item_files:
                self.titles = {str(i): t for i, t in con.execute(
                    f"SELECT item_id, any_value(title) FROM read_parquet({item_files!r}, "
                    "union_by_name=true) WHERE title IS NOT NULL GROUP BY item_id").fetchall()}
        finally:
            con.close()
        if with_sql:
            self.con = duckdb.connect()
            if files:
                self.con.execute("CREATE TABLE events AS SELECT * FROM "
                                 f"read_parquet({files!r}, union_by_name=true)")
            else:
                self.con.register("_empty", EVENTS.empty_table())
                self.con.execute("CREATE TABLE events AS SELECT * FROM _empty")
                self.con.unregister("_empty")

    def add_live(self, logged: list[LoggedEvent]) -> None:
        """Merge accepted live events (not yet folded into the workspace) into the histories."""
        fresh = [e for e in logged if e.offset >= self.folded]
        if not fresh:
            return
        with self._lock:
            for entry in fresh:
                event = entry.event
                history = self.users.get(event.user_id)
                if history is None:
                    history = self.users[event.user_id] = UserHistory([], [], [])
                history.add(event.item_id, event.event_type, _epoch_us(event.ts))
            self.live_counter += len(fresh)
        if self.con is not None:
            table = events_arrow(self.source, [e.event for e in fresh], first_ordinal=2**40)
            with self.con_lock:
                self.con.register("_live", table)
                try:
                    self.con.execute("INSERT INTO events BY NAME SELECT * FROM _live")
                finally:
                    self.con.unregister("_live")

    def history(self, user_id: str) -> UserHistory | None:
        """A copy-safe view of one user's history (None for an unknown user)."""
        with self._lock:
            found = self.users.get(user_id)
            if found is None:
                return None
            return UserHistory(list(found.items), list(found.kinds), list(found.keys),
                               found.n_live)


def events_arrow(source: str, events: list[LiveEvent], first_ordinal: int) -> pa.Table:
    """Live events as rows of the canonical `events` schema (ordinals from `first_ordinal`)."""
    n = len(events)
    columns: dict[str, pa.Array] = {
        "source": pa.array([source] * n, pa.string()),
        "user_id": pa.array([e.user_id for e in events], pa.string()),
        "item_id": pa.array([e.item_id for e in events], pa.string()),
        "event_type": pa.array([e.event_type for e in events], pa.string()),
        "ts": pa.array([e.ts for e in events], TS_TYPE),
        "ordinal": pa.array(range(first_ordinal, first_ordinal + n), pa.int64()),
        "session_id": pa.array([e.session_id for e in events], pa.string()),
        "price": pa.array([e.price for e in events], pa.float64()),
        "rating": pa.nulls(n, pa.float32()),
        "category": pa.array([e.category for e in events], pa.string()),
        "brand": pa.array([e.brand for e in events], pa.string()),
    }
    return pa.Table.from_arrays([columns[f.name] for f in EVENTS], schema=EVENTS)


class Histories:
    """The :class:`SourceData` of every source in use, rebuilt when the workspace changes."""

    def __init__(self, root: Path, live_events: Callable[[str, int], list[LoggedEvent]],
                 needs_sql: Callable[[str], bool], check_s: float = 1.0) -> None:
        self.root = Path(root)
        self.check_s = check_s
        self.rebuilds = 0
        self._live_events = live_events
        self._needs_sql = needs_sql
        self._data: dict[str, SourceData] = {}
        self._manifest_stamp = self._stamp()
        self._checked = time.monotonic()
        self._build_lock = threading.Lock()
        self.append_locks: dict[str, threading.Lock] = {}

    def _stamp(self) -> tuple[int, int]:
        st = (self.root / MANIFEST).stat()
        return (st.st_mtime_ns, st.st_size)

    def sources(self) -> list[str]:
        """The sources of the workspace now."""
        return sorted(Workspace(self.root).sources)

    def append_lock(self, source: str) -> threading.Lock:
        """The lock that orders appends to a source's log with rebuilds of its data."""
        return self.append_locks.setdefault(source, threading.Lock())

    def get(self, source: str) -> SourceData:
        """The data of `source`, built on first use and rebuilt when its manifest entry or the
        need for SQL (a behavior model appeared) changed."""
        self._maybe_refresh()
        data = self._data.get(source)
        needs_sql = self._needs_sql(source)
        if data is not None and (data.con is not None or not needs_sql):
            return data
        with self._build_lock:
            data = self._data.get(source)
            if data is not None and (data.con is not None or not needs_sql):
                return data
            return self._build(source, needs_sql)

    def _build(self, source: str, with_sql: bool) -> SourceData:
        started = time.perf_counter()
        data = SourceData(self.root, source, with_sql)
        with self.append_lock(source):  # no append slips between the snapshot and the swap
            data.add_live(self._live_events(source, data.folded))
            self._data[source] = data
        self.rebuilds += 1
        log.info("source %s: %d users loaded in %.2fs (log folded up to byte %d)", source,
                 len(data.users), time.perf_counter() - started, data.folded)
        return data

    def add_live(self, source: str, logged: list[LoggedEvent]) -> None:
        """Add just-logged events to the source's data, if it is loaded (call this under
        :meth:`append_lock`; a later build reads them from the log)."""
        data = self._data.get(source)
        if data is not None:
            data.add_live(logged)

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_s:
            return
        self._checked = now
        try:
            stamp = self._stamp()
        except FileNotFoundError:
            return
        if stamp == self._manifest_stamp:
            return
        with self._build_lock:
            self._manifest_stamp = stamp
            entries = Workspace(self.root).sources
            for source, data in list(self._data.items()):
                entry = entries.get(source)
                if entry is None:
                    del self._data[source]
                elif json.dumps(entry, sort_keys=True) != data.entry_key:
                    self._build(source, data.con is not None or self._needs_sql(source))

    def status(self) -> dict[str, Any]:
        """Loaded sources with their user counts and live events (for /healthz)."""
        return {s: {"users": len(d.users), "live_events": d.live_counter}
                for s, d in self._data.items()}
