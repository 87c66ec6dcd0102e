"""Small read-only questions about a workspace connection that several layers ask.

Each was written more than once (assistant, retrieval, UI, predictors); here it is written once.
They work on any DuckDB connection: the workspace's views, or plain tables (as in tests).
"""

from __future__ import annotations

import duckdb

from core.errors import InputError


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the database has a table or view called `name` (DuckDB's own catalog views,
    such as `duckdb_tables`, do not count)."""
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                      [name]).fetchone()
    return bool(row and row[0])


def user_sources(con: duckdb.DuckDBPyConnection, user_id: str) -> list[str]:
    """The sources with events of `user_id`, sorted (empty for an unknown user)."""
    return [str(r[0]) for r in con.execute(
        "SELECT DISTINCT source FROM events WHERE user_id = ? ORDER BY 1", [user_id]
    ).fetchall()]


def source_of_user(con: duckdb.DuckDBPyConnection, user_id: str,
                   source: str | None = None) -> str:
    """The source holding `user_id` (`source` when given and the user is in it); an
    `InputError` a person can act on for an unknown user or one in several sources."""
    sources = user_sources(con, user_id)
    if source is not None:
        if source not in sources:
            where = f" (found in {', '.join(sources)})" if sources else ""
            raise InputError(f"unknown user {user_id!r} in source {source!r}{where}")
        return source
    if not sources:
        raise InputError(f"unknown user {user_id!r}: no events in any source")
    if len(sources) > 1:
        raise InputError(f"user {user_id!r} is in several sources ({', '.join(sources)}); "
                         "choose one with --source")
    return sources[0]
