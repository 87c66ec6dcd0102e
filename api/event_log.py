"""The durable append log of live events: one JSON-lines file per source in the workspace.

Layout: ``<workspace>/live/events-<source>.jsonl``, one event a line. `POST /v1/events` writes
a batch with one ``write`` on an ``O_APPEND`` descriptor and ``fsync``s it before answering,
so an acknowledged event survives ``kill -9`` and power loss. A line cut short by a crash was
never acknowledged; it is dropped (and the file truncated to the last full line) when the log
is opened again. Events are idempotent by ``event_id`` per source: the ids of every line ever
written are kept in memory, so a re-post answers "duplicate" and writes nothing.

The log is folded into the Parquet tables by :mod:`api.compact`, which records in the
workspace manifest how many bytes of the log it folded (``live_log.folded_bytes`` of the
source); the log itself is never rewritten, so its ids keep deduplicating re-posts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from store.files import fsync_dir

log = logging.getLogger(__name__)

LIVE_DIR = "live"


def log_path(root: Path, source: str) -> Path:
    """The append log of `source` in the workspace at `root`."""
    return Path(root) / LIVE_DIR / f"events-{source}.jsonl"


@dataclass(frozen=True)
class LiveEvent:
    """One accepted event as written to the log (timestamps in UTC)."""

    event_id: str
    user_id: str
    item_id: str
    event_type: str
    ts: dt.datetime
    received_at: dt.datetime
    session_id: str | None = None
    price: float | None = None
    category: str | None = None
    brand: str | None = None

    def to_line(self) -> bytes:
        """The event as one JSON line (ISO timestamps)."""
        record: dict[str, Any] = asdict(self)
        record["ts"] = self.ts.isoformat()
        record["received_at"] = self.received_at.isoformat()
        return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> LiveEvent:
        """Parse one log line (raises ValueError/KeyError/TypeError on a damaged one)."""
        record = json.loads(line)
        record["ts"] = dt.datetime.fromisoformat(record["ts"])
        record["received_at"] = dt.datetime.fromisoformat(record["received_at"])
        return cls(**record)


@dataclass(frozen=True)
class LoggedEvent:
    """An event with the byte offset of its line in the log."""

    offset: int
    event: LiveEvent


def read_log(path: Path, start: int = 0) -> tuple[list[LoggedEvent], int]:
    """The complete lines of the log from byte `start`, and the offset just after the last one.

    A trailing partial line (a write cut short by a crash) is not returned; damaged complete
    lines are skipped with a warning.
    """
    if not path.exists():
        return [], start
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read()
    end = data.rfind(b"\n") + 1  # 0 when there is no complete line
    out: list[LoggedEvent] = []
    pos = 0
    for line in data[:end].splitlines(keepends=True):
        try:
            out.append(LoggedEvent(start + pos, LiveEvent.from_line(line)))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: skipping a damaged line at byte %d (%s)", path, start + pos, exc)
        pos += len(line)
    return out, start + end


class SourceLog:
    """The append log of one source, opened by the one server process that writes it."""

    def __init__(self, root: Path, source: str) -> None:
        self.path = log_path(root, source)
        self.source = source
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created:
            fsync_dir(self.path.parent)
        entries, end = read_log(self.path)
        size = os.fstat(self._fd).st_size
        if size > end:
            log.warning("%s: dropping %d bytes of an unfinished write (never acknowledged)",
                        self.path, size - end)
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        self._entries = entries
        self._ids = {e.event.event_id for e in entries}
        self._end = end

    @property
    def size(self) -> int:
        """Bytes of complete lines in the log."""
        return self._end

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, events: list[LiveEvent]) -> tuple[list[LoggedEvent], int]:
        """Write the events not seen before, durably; returns them (with offsets) and the number
        of duplicates (ids already in the log or repeated in the batch) left out."""
        with self._lock:
            fresh: list[LiveEvent] = []
            batch_ids: set[str] = set()
            for event in events:
                if event.event_id in self._ids or event.event_id in batch_ids:
                    continue
                batch_ids.add(event.event_id)
                fresh.append(event)
            if not fresh:
                return [], len(events)
            lines = [e.to_line() for e in fresh]
            blob = b"".join(lines)
            written = 0
            while written < len(blob):  # one write in practice; loop for short writes
                written += os.write(self._fd, blob[written:])
            os.fsync(self._fd)
            logged: list[LoggedEvent] = []
            offset = self._end
            for event, line in zip(fresh, lines, strict=True):
                logged.append(LoggedEvent(offset, event))
                offset += len(line)
            self._end = offset
            self._entries.extend(logged)
            self._ids.update(batch_ids)
            return logged, len(events) - len(fresh)

    def since(self, offset: int) -> list[LoggedEvent]:
        """The logged events at or after byte `offset` (those not yet folded)."""
        with self._lock:
            return [e for e in self._entries if e.offset >= offset]

    def close(self) -> None:
        """Close the file descriptor."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
