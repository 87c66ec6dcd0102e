"""S3-Rec sequence files (`user item item …` per line, chronological) plus an items CSV.

Used for Amazon Beauty 2014 (the standard next-item benchmark). There are no timestamps: the
events keep their order in `ordinal` and the source is marked untimed. Items come from an
`items.csv[.gz]` beside the sequence file (item_id, asin, title, …) or `--items PATH`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InputError
from store.loaders.base import Loader, ordinals, require_columns
from store.loaders.csvstream import empty_to_null, iter_csv_batches, read_header
from store.rawio import iter_text_lines

ITEM_COLUMNS = ["item_id", "title"]


class S3RecLoader(Loader):
    """Reads S3-Rec style sequences into `events` (untimed) and the item table into `items`."""

    kind = "s3rec"
    description = "S3-Rec sequence file: one line per user, 'user_id item_id item_id …'"

    def items_path(self) -> Path | None:
        """The items file: `--items`, else items.csv(.gz) beside the sequences, else none."""
        if self.options.get("items"):
            return Path(self.options["items"])
        for name in ("items.csv.gz", "items.csv"):
            candidate = self.path.parent / name
            if candidate.exists():
                return candidate
        return None

    def input_files(self) -> list[Path]:
        items = self.items_path()
        return [self.path] + ([items] if items else [])

    def chunks(self) -> Iterator[tuple[str, pa.Table]]:
        self.report.untimed = True
        yield from self._events()
        items = self.items_path()
        if items is not None:
            yield from self._items(items)

    def _events(self) -> Iterator[tuple[str, pa.Table]]:
        chunk_rows = int(self.options.get("chunk_rows", 500_000))
        users: list[str] = []
        items: list[str] = []
        ordinal = 0
        seen_users: set[str] = set()
        for number, line in iter_text_lines(self.path):
            tokens = line.split()
            if not tokens:
                continue
            bad = next((t for t in tokens if not t.isdigit()), None)
            if bad is not None:
                raise InputError(
                    f"{self.path}: line {number}: {bad!r} is not an integer id "
                    "(expected 'user_id item_id item_id …')"
                )
            user = tokens[0]
            if user in seen_users:
                raise InputError(f"{self.path}: line {number}: duplicate user id {user}")
            seen_users.add(user)
            users.extend([user] * (len(tokens) - 1))
            items.extend(tokens[1:])
            if len(users) >= chunk_rows:
                yield "events", self._events_table(users, items, ordinal)
                ordinal += len(users)
                users, items = [], []
        if users:
            yield "events", self._events_table(users, items, ordinal)

    def _events_table(self, users: list[str], items: list[str], ordinal: int) -> pa.Table:
        n = len(users)
        self.report.raw_rows += n
        return pa.table(
            {
                "user_id": pa.array(users, pa.string()),
                "item_id": pa.array(items, pa.string()),
                "event_type": pa.repeat(pa.scalar("review"), n),
                "ordinal": ordinals(ordinal, n),
            }
        )

    def _items(self, path: Path) -> Iterator[tuple[str, pa.Table]]:
        require_columns(path, read_header(path), ITEM_COLUMNS, "an items file")
        seen: set[str] = set()
        for first_row, batch in iter_csv_batches(path):
            ids = pc.utf8_trim_whitespace(batch.column("item_id"))
            for offset, item in enumerate(ids.to_pylist()):
                if item in seen:
                    raise InputError(f"{path}: row {first_row + offset}: duplicate item_id {item}")
                seen.add(item)
            columns = {"item_id": ids, "title": empty_to_null(batch.column("title"))}
            if "asin" in batch.schema.names:
                columns["external_id"] = batch.column("asin")
            yield "items", pa.table(columns)
