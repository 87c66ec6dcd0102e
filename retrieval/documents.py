"""Documents to index, read from the workspace: one per review and one per catalog item.

Each document has a stable id, a text to embed and flat metadata (Chroma accepts str, int,
float and bool; missing values are left out rather than stored as null). Review text is
untrusted input: it is only ever stored and embedded, never interpreted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

FETCH_ROWS = 5000


@dataclass(frozen=True)
class Document:
    """A text to embed, its stable id and its metadata."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def source_filter(sources: Sequence[str] | None, column: str = "source") -> tuple[str, list[Any]]:
    """SQL `AND …` clause and parameters restricting rows to `sources` (all when None)."""
    if not sources:
        return "", []
    marks = ", ".join("?" for _ in sources)
    return f" AND {column} IN ({marks})", list(sources)


def _clean(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _meta(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != ""}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> Iterator[tuple]:
    cursor = con.execute(sql, params)
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows:
            return
        yield from rows


def count_reviews(con: duckdb.DuckDBPyConnection, sources: Sequence[str] | None = None) -> int:
    """Number of reviews that `review_documents` will yield."""
    clause, params = source_filter(sources)
    return int(con.execute(f"SELECT count(*) FROM reviews WHERE true{clause}", params)
               .fetchone()[0])


def review_documents(con: duckdb.DuckDBPyConnection,
                     sources: Sequence[str] | None = None) -> Iterator[Document]:
    """One document per review: summary and text; metadata source, user, item, rating, ts."""
    clause, params = source_filter(sources)
    sql = (
        "SELECT review_id, source, user_id, item_id, rating, "
        "CAST(epoch(ts) AS BIGINT) AS ts_epoch, summary, text FROM reviews "
        f"WHERE true{clause} ORDER BY review_id")
    for review_id, source, user_id, item_id, rating, ts, summary, text in _rows(con, sql, params):
        body = "\n".join(part for part in (_clean(summary), _clean(text)) if part)
        yield Document(str(review_id), body, _meta(
            source=source, user_id=_clean(user_id), item_id=_clean(item_id),
            rating=float(rating) if rating is not None else None,
            ts=int(ts) if ts is not None else None))


def count_items(con: duckdb.DuckDBPyConnection, sources: Sequence[str] | None = None) -> int:
    """Number of catalog rows that `item_documents` will look at."""
    clause, params = source_filter(sources)
    return int(con.execute(f"SELECT count(*) FROM items WHERE true{clause}", params)
               .fetchone()[0])


def item_documents(con: duckdb.DuckDBPyConnection,
                   sources: Sequence[str] | None = None) -> Iterator[Document]:
    """One document per catalog item with any text: title, brand, category, description."""
    clause, params = source_filter(sources)
    sql = ("SELECT source, item_id, title, brand, category, price, description FROM items "
           f"WHERE true{clause} ORDER BY source, item_id")
    for source, item_id, title, brand, category, price, description in _rows(con, sql, params):
        lines = [_clean(title)]
        if _clean(brand):
            lines.append(f"Brand: {_clean(brand)}")
        if _clean(category):
            lines.append(f"Category: {_clean(category)}")
        if _clean(description):
            lines.append(_clean(description))
        text = "\n".join(line for line in lines if line)
        if not text:
            continue
        yield Document(f"{source}:{item_id}", text, _meta(
            source=source, item_id=_clean(item_id), title=_clean(title) or None,
            brand=_clean(brand) or None, category=_clean(category) or None,
            price=float(price) if price is not None else None))
