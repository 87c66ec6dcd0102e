"""What the workspace holds, computed from the data: sources, date ranges, event types, columns.

The ask tool shows this to the LLM (so it knows which sources and dates exist), anchors
relative dates ("last week") at the newest date of the data in scope, and lists it in honest
"can't answer" replies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from store.queries import table_exists

OPTIONAL_COLUMNS = ("price", "rating", "category", "brand", "session_id")


@dataclass
class SourceProfile:
    """One source: its event types, date range (None when untimed) and filled columns."""

    name: str
    events: int
    users: int
    event_types: list[str]
    first_date: dt.date | None
    last_date: dt.date | None
    columns: list[str] = field(default_factory=list)
    reviews: int = 0

    def describe(self) -> str:
        """One compact line for prompts and "what is available" replies."""
        span = (f"{self.first_date}..{self.last_date}" if self.last_date else "untimed")
        cols = f"; has {', '.join(self.columns)}" if self.columns else ""
        return f"{self.name}: {'/'.join(self.event_types)} events, {span}{cols}"


@dataclass
class DataProfile:
    """All sources of a workspace, and whether user scores exist."""

    sources: dict[str, SourceProfile]
    has_scores: bool

    def anchor(self, sources: list[str] | None = None) -> dt.date | None:
        """Today's date for relative phrases: the newest date of the data in scope."""
        chosen = [self.sources[s] for s in (sources or []) if s in self.sources] or list(
            self.sources.values())
        dates = [s.last_date for s in chosen if s.last_date is not None]
        return max(dates) if dates else None

    def with_column(self, column: str) -> list[str]:
        """Sources whose events have values in `column`."""
        return [s.name for s in self.sources.values() if column in s.columns]

    def describe(self) -> str:
        """Multi-line description of every source."""
        return "\n".join(f"- {s.describe()}" for s in self.sources.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"has_scores": self.has_scores, "sources": {
            n: {"events": s.events, "users": s.users, "event_types": s.event_types,
                "first_date": s.first_date.isoformat() if s.first_date else None,
                "last_date": s.last_date.isoformat() if s.last_date else None,
                "columns": s.columns, "reviews": s.reviews}
            for n, s in self.sources.items()}}


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    return value if isinstance(value, dt.date) else None


def data_profile(con: duckdb.DuckDBPyConnection) -> DataProfile:
    """Profile every source of the workspace (one pass over events, one over reviews)."""
    con.execute("SET TimeZone = 'UTC'")
    counts = ", ".join(f"count({c})" for c in OPTIONAL_COLUMNS)
    rows = con.execute(
        f"SELECT source, count(*), count(DISTINCT user_id), list(DISTINCT event_type), "
        f"min(ts), max(ts), {counts} FROM events GROUP BY source ORDER BY source").fetchall()
    reviews = dict(con.execute("SELECT source, count(*) FROM reviews GROUP BY source")
                   .fetchall())
    order = ["view", "cart", "remove_from_cart", "fav", "purchase", "review"]
    sources: dict[str, SourceProfile] = {}
    for row in rows:
        name, events, users, types, first, last, *filled = row
        types = sorted(types, key=lambda t: order.index(t) if t in order else 99)
        columns = [c for c, n in zip(OPTIONAL_COLUMNS, filled, strict=True) if n]
        sources[name] = SourceProfile(name, int(events), int(users), types, _date(first),
                                      _date(last), columns, int(reviews.get(name, 0)))
    for name, n in reviews.items():
        if name not in sources:
            sources[name] = SourceProfile(name, 0, 0, [], None, None, [], int(n))
    return DataProfile(sources=sources, has_scores=table_exists(con, "user_scores"))
