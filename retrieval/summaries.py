"""One deterministic behavior summary per user, built from events (and scores when present).

The text depends only on the data: dates come from the events (never from "now"), every list is
ordered with explicit tie-breaks, and numbers have fixed formats. Unchanged data therefore gives
byte-identical text, which the incremental indexer relies on to skip re-embedding. When the
workspace has a `user_scores` view (published by the prediction stage), its columns are added.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import duckdb

from retrieval.documents import Document, source_filter
from store.queries import table_exists

log = logging.getLogger(__name__)

RECENT_EVENTS = 5
TOP_N = 3
TITLE_CHARS = 60
SCORE_LIST_ITEMS = 10
FUNNEL = (("purchase", "purchaser"), ("cart", "carted without purchase"),
          ("fav", "saved items (fav), no cart"), ("view", "browsing only"),
          ("review", "reviewer (review log only)"))

EVENTS_SQL = """
WITH it AS (
    SELECT source, item_id, min(title) AS title, min(category) AS category, min(brand) AS brand
    FROM items WHERE source = $source GROUP BY source, item_id
)
SELECT e.user_id, e.item_id, e.event_type, epoch(e.ts) AS t, e.ordinal, e.session_id, e.rating,
       coalesce(e.category, it.category) AS category, coalesce(e.brand, it.brand) AS brand,
       it.title
FROM events e LEFT JOIN it ON it.item_id = e.item_id
WHERE e.source = $source
"""


def _date(epoch: float | None) -> str:
    if epoch is None:
        return "undated"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


def _fmt(value: Any) -> str:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in list(value)[:SCORE_LIST_ITEMS])
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(value.items()))
    return " ".join(str(value).split())


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


def _scores(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, list[dict[str, Any]]]:
    """Rows of `user_scores` for one source, keyed by user; {} when the view does not exist."""
    if not table_exists(con, "user_scores"):
        return {}
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'user_scores' ORDER BY ordinal_position").fetchall()
    selected = []
    for name, dtype in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        # Timestamps go through VARCHAR so that no time-zone library is needed to fetch them.
        selected.append(f"CAST({quoted} AS VARCHAR) AS {quoted}" if "TIME" in dtype.upper()
                        else quoted)
    names = [name for name, _ in columns]
    if "source" not in names or "user_id" not in names:
        log.warning("user_scores has no source/user_id columns; scores left out of summaries")
        return {}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = con.execute(f"SELECT {', '.join(selected)} FROM user_scores WHERE source = ?",
                       [source]).fetchall()
    for row in rows:
        record = dict(zip(names, row, strict=True))
        user = str(record.pop("user_id"))
        record.pop("source")
        out[user].append({k: v for k, v in record.items() if v is not None})
    for user_rows in out.values():
        user_rows.sort(key=lambda r: repr(sorted(r.items())))
    return out


def _top(counter: dict[str, int]) -> str:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    return ", ".join(f"{name} ({n})" for name, n in ranked)


class _UserEvents:
    """Aggregates one user's events while rows stream by."""

    __slots__ = ("by_type", "categories", "brands", "items", "sessions", "first", "last",
                 "ratings", "recent", "n")

    def __init__(self) -> None:
        self.by_type: dict[str, int] = defaultdict(int)
        self.categories: dict[str, int] = defaultdict(int)
        self.brands: dict[str, int] = defaultdict(int)
        self.items: set[str] = set()
        self.sessions: set[str] = set()
        self.first: float | None = None
        self.last: float | None = None
        self.ratings: list[float] = []
        self.recent: list[tuple] = []
        self.n = 0

    def add(self, item_id: str, event_type: str, t: float | None, ordinal: int,
            session: str | None, rating: float | None, category: str | None,
            brand: str | None, title: str | None) -> None:
        self.n += 1
        self.by_type[event_type] += 1
        self.items.add(item_id)
        if session:
            self.sessions.add(session)
        if category:
            self.categories[category] += 1
        if brand:
            self.brands[brand] += 1
        if t is not None:
            self.first = t if self.first is None else min(self.first, t)
            self.last = t if self.last is None else max(self.last, t)
        if rating is not None:
            self.ratings.append(float(rating))
        # Latest first: timed events by time, then by position in the source file.
        key = (t if t is not None else float("-inf"), ordinal, item_id, event_type)
        self.recent.append((key, item_id, event_type, t, rating, title))
        if len(self.recent) > 4 * RECENT_EVENTS:
            self.recent.sort(key=lambda r: r[0], reverse=True)
            del self.recent[RECENT_EVENTS:]


def _stage(by_type: dict[str, int]) -> str:
    for event_type, label in FUNNEL:
        if by_type.get(event_type):
            return label
    return "unknown"


def render_summary(source: str, user_id: str, agg: _UserEvents,
                   scores: list[dict[str, Any]]) -> str:
    """The summary text of one user (pure function of its inputs)."""
    counts = ", ".join(f"{n} {t}" for t, n in sorted(agg.by_type.items(),
                                                       key=lambda kv: (-kv[1], kv[0])))
    span = (f"from {_date(agg.first)} to {_date(agg.last)}" if agg.first is not None
            else "untimed (order only)")
    # Most telling facts first: the embedder reads only the first ~256 tokens.
    lines = [f"Customer {user_id} (source {source}).",
             f"Funnel stage: {_stage(agg.by_type)}."]
    for row in scores:
        parts = [f"{name}: {_fmt(value)}" for name, value in sorted(row.items())]
        if parts:
            lines.append("Scores: " + "; ".join(parts) + ".")
    lines.append(f"Activity: {agg.n} events on {len(agg.items)} items {span}: {counts}.")
    if agg.sessions:
        lines.append(f"Sessions: {len(agg.sessions)}.")
    if agg.ratings:
        mean = sum(agg.ratings) / len(agg.ratings)
        lines.append(f"Average rating given: {mean:.2f} over {len(agg.ratings)} ratings.")
    if agg.categories:
        lines.append(f"Top categories: {_top(agg.categories)}.")
    if agg.brands:
        lines.append(f"Top brands: {_top(agg.brands)}.")
    recent = sorted(agg.recent, key=lambda r: r[0], reverse=True)[:RECENT_EVENTS]
    lines.append("Recent activity (latest first):")
    for _, item_id, event_type, t, rating, title in recent:
        what = f'"{_short(title)}" (item {item_id})' if title else f"item {item_id}"
        rated = f", rated {rating:g}" if rating is not None else ""
        lines.append(f"- {_date(t)} {event_type}: {what}{rated}")
    return "\n".join(lines)


def count_users(con: duckdb.DuckDBPyConnection, sources: Sequence[str] | None = None) -> int:
    """Number of (source, user) pairs that will get a summary."""
    clause, params = source_filter(sources)
    return int(con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT source, user_id FROM events WHERE true{clause})",
        params).fetchone()[0])


def summary_documents(con: duckdb.DuckDBPyConnection,
                      sources: Sequence[str] | None = None) -> Iterator[Document]:
    """One behavior-summary document per user, id `source:user_id`, one source at a time."""
    clause, params = source_filter(sources)
    names = [r[0] for r in con.execute(
        f"SELECT DISTINCT source FROM events WHERE true{clause} ORDER BY source",
        params).fetchall()]
    for source in names:
        users: dict[str, _UserEvents] = defaultdict(_UserEvents)
        cursor = con.execute(EVENTS_SQL, {"source": source})
        while rows := cursor.fetchmany(50_000):
            for user, item, etype, t, ordinal, session, rating, category, brand, title in rows:
                users[str(user)].add(str(item), str(etype), t, int(ordinal or 0), session,
                                     rating, category, brand, title)
        scores = _scores(con, source)
        for user_id in sorted(users):
            agg = users[user_id]
            text = render_summary(source, user_id, agg, scores.get(user_id, []))
            meta: dict[str, Any] = {"source": source, "user_id": user_id, "n_events": agg.n,
                                    "funnel_stage": _stage(agg.by_type),
                                    "has_scores": bool(scores.get(user_id))}
            if agg.last is not None:
                meta["last_ts"] = int(agg.last)
            yield Document(f"{source}:{user_id}", text, meta)
