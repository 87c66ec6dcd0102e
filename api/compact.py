"""Fold the live-event logs into the workspace's `events` table (`insight api compact`).

For each source with a log, the lines after the last folded byte (the source's
``live_log.folded_bytes`` in the manifest) are written as one Parquet file and published with
the workspace's writer API (``ws.lock()``, ``ws.stage()``, ``publish_source_batch``). The new
folded offset is part of the same manifest commit, so a crash either folds a segment
completely, offset included, or not at all: no event is folded twice or lost. It can run while
the API serves: the server keeps appending after the offset it reads, and rereads the
workspace when the manifest changes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from api.event_log import LIVE_DIR, LoggedEvent, log_path, read_log
from core.errors import InputError
from store.readers import require_source
from store.schema import EVENTS, conform
from store.workspace import SourceFile, Workspace, _utcnow

log = logging.getLogger(__name__)

LIVE_LOG_KEY = "live_log"


def folded_bytes(ws: Workspace, source: str) -> int:
    """How many bytes of the source's log are already in its Parquet tables."""
    entry = ws.sources.get(source, {}).get(LIVE_LOG_KEY) or {}
    return int(entry.get("folded_bytes", 0))


@dataclass
class CompactResult:
    """What a compaction folded, per source: events written and the log offsets."""

    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def events(self) -> int:
        """Events folded over all sources."""
        return sum(int(s.get("events", 0)) for s in self.sources.values())


def logged_sources(root: Path) -> list[str]:
    """Sources with an append log in the workspace at `root`."""
    base = Path(root) / LIVE_DIR
    if not base.exists():
        return []
    return sorted(p.name.removeprefix("events-").removesuffix(".jsonl")
                  for p in base.glob("events-*.jsonl"))


def compact(root: Path, sources: list[str] | None = None) -> CompactResult:
    """Fold every (or the named) source's unfolded log lines into its `events` table."""
    ws = Workspace.open(root)
    names = sources if sources else logged_sources(root)
    result = CompactResult()
    for source in names:
        require_source(ws, source)
        if not log_path(root, source).exists():
            raise InputError(f"source {source!r} has no live-event log in {root / LIVE_DIR}")
        result.sources[source] = _compact_source(ws, source)
    return result


def _compact_source(ws: Workspace, source: str) -> dict[str, Any]:
    path = log_path(ws.root, source)
    with ws.lock():
        ws.sweep()
        start = folded_bytes(ws, source)
        entries, end = read_log(path, start)
        if not entries:
            log.info("%s: nothing to fold (log folded up to byte %d)", source, start)
            return {"events": 0, "from_byte": start, "to_byte": end}
        table = _events_table(ws, source, entries)
        digest = _segment_sha256(path, start, end)
        with ws.stage() as batch:
            name = "events-00000.parquet"
            pq.write_table(table, batch.staging_dir / name, compression="zstd")
            batch.files["events"] = [name]
            batch.rows = {"events": table.num_rows}
            record = SourceFile(
                path=f"{path.resolve()}#bytes={start}-{end}", sha256=digest, size=end - start,
                ingested_at=_utcnow(), batch=batch.batch_id, raw_rows=len(entries),
                rows={"events": table.num_rows})
            meta = {LIVE_LOG_KEY: {"path": str(path.relative_to(ws.root)),
                                   "folded_bytes": end, "folded_at": _utcnow()}}
            kind = ws.sources[source]["kind"]
            ws.publish_source_batch(source, kind, batch, record, meta)
    log.info("%s: folded %d live events (log bytes %d-%d)", source, table.num_rows, start, end)
    return {"events": table.num_rows, "from_byte": start, "to_byte": end}


def _events_table(ws: Workspace, source: str, entries: list[LoggedEvent]) -> pa.Table:
    """The log lines as canonical `events` rows; ordinals continue after the source's last."""
    first = _max_ordinal(ws, source) + 1
    seen: set[str] = set()
    rows: dict[str, list[Any]] = {f.name: [] for f in EVENTS if f.name != "source"}
    for entry in entries:
        event = entry.event
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        rows["user_id"].append(event.user_id)
        rows["item_id"].append(event.item_id)
        rows["event_type"].append(event.event_type)
        rows["ts"].append(event.ts)
        rows["ordinal"].append(first + len(seen) - 1)
        rows["session_id"].append(event.session_id)
        rows["price"].append(event.price)
        rows["rating"].append(None)
        rows["category"].append(event.category)
        rows["brand"].append(event.brand)
    arrays = {name: pa.array(values, type=EVENTS.field(name).type)
              for name, values in rows.items()}
    return conform(pa.table(arrays), "events", source)


def _max_ordinal(ws: Workspace, source: str) -> int:
    files = [str(ws.root / p) for p in ws.sources[source]["tables"].get("events", [])]
    if not files:
        return -1
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT max(ordinal) FROM read_parquet({files!r})").fetchone()
    finally:
        con.close()
    return -1 if not row or row[0] is None else int(row[0])


def _segment_sha256(path: Path, start: int, end: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining:
            chunk = handle.read(min(remaining, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()

