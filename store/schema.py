"""The canonical data model every loader produces and every reader relies on.

Tables (one Parquet dataset each, plus a derived `users` view):

* **events** — one row per user action. `event_type` is one of `EVENT_TYPES`. `ts` is UTC and
  null for untimed sources (S3-Rec sequences), where `ordinal` carries the order instead.
  `ordinal` is the row's position in its source file, so ties in `ts` keep file order.
* **items** — catalog rows: title, brand, category, price, description; `external_id` keeps the
  source's own key (e.g. the Amazon asin) when `item_id` is a remapped integer.
* **reviews** — review text with a stable `review_id` (hash of source, user, item, time, summary
  and text), so re-ingesting the same reviews never duplicates them.
* **users** — derived in DuckDB from events: first/last activity and counts.

Every table carries `source`, the dataset name given at ingest (defaults to the loader kind).
"""

from __future__ import annotations

import pyarrow as pa

EVENT_TYPES: tuple[str, ...] = ("view", "cart", "remove_from_cart", "fav", "purchase", "review")
"""Allowed values of events.event_type, in rough funnel order."""

TS_TYPE = pa.timestamp("us", tz="UTC")

EVENTS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE),
        pa.field("ordinal", pa.int64(), nullable=False),
        pa.field("session_id", pa.string()),
        pa.field("price", pa.float64()),
        pa.field("rating", pa.float32()),
        pa.field("category", pa.string()),
        pa.field("brand", pa.string()),
    ]
)

ITEMS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("brand", pa.string()),
        pa.field("category", pa.string()),
        pa.field("price", pa.float64()),
        pa.field("description", pa.string()),
        pa.field("external_id", pa.string()),
    ]
)

REVIEWS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("review_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("rating", pa.float32()),
        pa.field("ts", TS_TYPE),
        pa.field("summary", pa.string()),
        pa.field("text", pa.string()),
        pa.field("verified", pa.bool_()),
        pa.field("helpful_votes", pa.int32()),
        pa.field("reviewer_name", pa.string()),
    ]
)

TABLES: dict[str, pa.Schema] = {"events": EVENTS, "items": ITEMS, "reviews": REVIEWS}


def empty_table(name: str) -> pa.Table:
    """An empty table with the canonical schema of `name`."""
    return TABLES[name].empty_table()


def conform(table: pa.Table, name: str, source: str) -> pa.Table:
    """Cast/complete `table` to the canonical schema of `name` (missing columns become null)."""
    schema = TABLES[name]
    columns = []
    for field in schema:
        if field.name == "source":
            columns.append(pa.repeat(pa.scalar(source), table.num_rows))
        elif field.name in table.column_names:
            columns.append(table[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
