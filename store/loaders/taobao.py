"""Taobao UserBehavior CSV (Alibaba, Tianchi dataset 649): pv / cart / fav / buy clicks.

Columns: user_id, item_id, category_id, behavior_type, timestamp (Unix seconds). The official
file has no header; the cleaned prefix in `../shared/data` has one. Both are accepted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from store.loaders.base import (
    Loader,
    map_event_types,
    ordinals,
    require_columns,
    require_ids,
)
from store.loaders.csvstream import iter_csv_batches, parse_epoch_seconds, read_header

COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
EVENT_MAP = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"}


class TaobaoLoader(Loader):
    """Streams the Taobao UserBehavior clickstream into `events`."""

    kind = "taobao"
    description = "Taobao UserBehavior CSV (user_id,item_id,category_id,behavior_type,timestamp)"

    def chunks(self) -> Iterator[tuple[str, pa.Table]]:
        header = read_header(self.path)
        headerless = header[:1] and header[0].strip().isdigit()
        names = COLUMNS if headerless else None
        if not headerless:
            require_columns(self.path, header, COLUMNS, "a Taobao UserBehavior file")
        event_map = {**EVENT_MAP, **self.options.get("event_map", {})}
        block = int(self.options.get("block_size", 16 << 20))
        ordinal = 0
        for first_row, batch in iter_csv_batches(self.path, column_names=names, block_size=block):
            n = batch.num_rows
            self.report.raw_rows += n
            table = pa.table(
                {
                    "user_id": require_ids(batch.column("user_id"), self.path, "user_id",
                                           first_row),
                    "item_id": require_ids(batch.column("item_id"), self.path, "item_id",
                                           first_row),
                    "event_type": map_event_types(
                        batch.column("behavior_type"), event_map, self.path, "behavior_type",
                        first_row,
                    ),
                    "ts": parse_epoch_seconds(
                        batch.column("timestamp"), self.path, "timestamp", first_row
                    ),
                    "ordinal": ordinals(ordinal, n),
                    "category": batch.column("category_id"),
                }
            )
            ordinal += n
            yield "events", table
