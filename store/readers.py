"""Reading model inputs out of a workspace: per-user sequences and data fingerprints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb

from core.errors import InputError
from store.workspace import Workspace


@dataclass
class UserSequences:
    """Each user's events in order: items and event types, plus the user ids."""

    source: str
    user_ids: list[str]
    items: list[list[str]]
    event_types: list[list[str]]

    def __len__(self) -> int:
        return len(self.user_ids)


def require_source(ws: Workspace, source: str | None) -> str:
    """The source to use: the one named, or the only one; clear errors otherwise."""
    names = sorted(ws.sources)
    if not names:
        raise InputError(f"workspace {ws.root} is empty; run `insight ingest` or `insight sample`")
    if source is None:
        if len(names) == 1:
            return names[0]
        raise InputError(f"several sources in the workspace; choose one with --source: "
                         f"{', '.join(names)}")
    if source not in ws.sources:
        raise InputError(f"unknown source {source!r}; known: {', '.join(names)}")
    return source


def source_fingerprint(ws: Workspace, source: str) -> str:
    """A hash of the files that make up a source: changes whenever its data changes."""
    shas = sorted(f["sha256"] for f in ws.sources[source]["files"])
    return hashlib.sha256("\n".join(shas).encode()).hexdigest()[:16]


def user_sequences(
    con: duckdb.DuckDBPyConnection,
    source: str,
    event_types: tuple[str, ...] | None = None,
    user_ids: list[str] | None = None,
) -> UserSequences:
    """Every user's (item, event type) sequence of `source`, oldest first.

    Timed events are ordered by time, then file order; untimed ones by file order.
    """
    where = ["source = ?"]
    params: list[object] = [source]
    if event_types:
        where.append("list_contains(?, event_type)")
        params.append(list(event_types))
    if user_ids is not None:
        where.append("list_contains(?, user_id)")
        params.append(user_ids)
    rows = con.execute(
        f"""
        SELECT user_id,
               list(item_id ORDER BY ts NULLS FIRST, ordinal),
               list(event_type ORDER BY ts NULLS FIRST, ordinal)
        FROM events WHERE {' AND '.join(where)}
        GROUP BY user_id ORDER BY user_id
        """,
        params,
    ).fetchall()
    return UserSequences(
        source=source,
        user_ids=[r[0] for r in rows],
        items=[r[1] for r in rows],
        event_types=[r[2] for r in rows],
    )
