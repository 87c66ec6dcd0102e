"""Documents to index, read from the workspace: one per review and one per catalog item.

Each document has a stable id, a text to embed and flat metadata (Chroma accepts str, int,
float and bool; missing values are left out rather than stored as null). Review text is
untrusted input: it is only ever stored and embedded, never interpreted. By default personal
data in it (e-mails, phones, addresses, card numbers, the reviewer's names) is masked first
(`retrieval.pii`), so neither the index nor anything retrieved from it holds them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from retrieval import pii

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


REVIEWER_NAMES_SQL = (
    "SELECT source, user_id, list(DISTINCT reviewer_name ORDER BY reviewer_name) AS names "
    "FROM reviews WHERE reviewer_name IS NOT NULL{clause} GROUP BY source, user_id")
"""Every display name each user has reviewed under (masked in all of that user's reviews)."""


def review_documents(con: duckdb.DuckDBPyConnection, sources: Sequence[str] | None = None,
                     mask_pii: bool = True) -> Iterator[Document]:
    """One document per review: summary and text (personal data masked unless `mask_pii` is
    off); metadata source, user, item, rating, ts."""
    clause, params = source_filter(sources, column="r.source")
    names_clause, names_params = source_filter(sources)
    sql = (
        f"WITH names AS ({REVIEWER_NAMES_SQL.format(clause=names_clause)}) "
        "SELECT r.review_id, r.source, r.user_id, r.item_id, r.rating, "
        "CAST(epoch(r.ts) AS BIGINT) AS ts_epoch, r.summary, r.text, n.names FROM reviews r "
        "LEFT JOIN names n ON n.source = r.source AND n.user_id = r.user_id "
        f"WHERE true{clause} ORDER BY r.review_id")
    rows = _rows(con, sql, names_params + params)
    for review_id, source, user_id, item_id, rating, ts, summary, text, names in rows:
        parts = [_clean(summary), _clean(text)]
        if mask_pii:
            parts = [pii.mask_pii(part, names or ())[0] for part in parts]
        body = "\n".join(part for part in parts if part)
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
