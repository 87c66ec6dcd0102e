"""REES46 multi-category store CSV (Kaggle, Open CDP): view / cart / purchase with prices.

Columns: event_time (`YYYY-MM-DD HH:MM:SS UTC`), event_type, product_id, category_id,
category_code, brand, price, user_id, user_session. Exact duplicate rows are kept, as in the
original (the store logs them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from store.loaders.base import (
    Loader,
    map_event_types,
    ordinals,
    require_columns,
    require_ids,
)
from store.loaders.csvstream import (
    empty_to_null,
    iter_csv_batches,
    parse_float_column,
    parse_timestamp_text,
    read_header,
)

COLUMNS = [
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
    "user_id", "user_session",
]
EVENT_MAP = {
    "view": "view",
    "cart": "cart",
    "remove_from_cart": "remove_from_cart",
    "purchase": "purchase",
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


class Rees46Loader(Loader):
    """Streams a REES46 events CSV into `events`, and derives `items` from it."""

    kind = "rees46"
    description = "REES46 eCommerce events CSV (event_time,event_type,product_id,…)"

    def chunks(self) -> Iterator[tuple[str, pa.Table]]:
        require_columns(self.path, read_header(self.path), COLUMNS, "a REES46 events file")
        event_map = {**EVENT_MAP, **self.options.get("event_map", {})}
        block = int(self.options.get("block_size", 16 << 20))
        ordinal = 0
        for first_row, batch in iter_csv_batches(self.path, block_size=block):
            n = batch.num_rows
            self.report.raw_rows += n
            code = empty_to_null(batch.column("category_code"))
            category = pc.coalesce(code, batch.column("category_id"))
            yield "events", pa.table(
                {
                    "user_id": require_ids(batch.column("user_id"), self.path, "user_id",
                                           first_row),
                    "item_id": require_ids(batch.column("product_id"), self.path, "product_id",
                                           first_row),
                    "event_type": map_event_types(
                        batch.column("event_type"), event_map, self.path, "event_type", first_row
                    ),
                    "ts": parse_timestamp_text(
                        batch.column("event_time"), self.path, "event_time", first_row,
                        TIME_FORMAT,
                    ),
                    "ordinal": ordinals(ordinal, n),
                    "session_id": empty_to_null(batch.column("user_session")),
                    "price": parse_float_column(batch.column("price"), self.path, "price",
                                                first_row),
                    "category": category,
                    "brand": empty_to_null(batch.column("brand")),
                }
            )
            ordinal += n

    def derived_sql(self) -> dict[str, str]:
        """Items: each product's latest category, brand and price seen in the log."""
        return {
            "items": """
                SELECT item_id,
                       arg_max(category, ordinal) AS category,
                       arg_max(brand, ordinal) AS brand,
                       arg_max(price, ordinal) AS price
                FROM events GROUP BY item_id ORDER BY item_id
            """
        }
