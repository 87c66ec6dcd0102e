"""Bring-your-own export: CSV, Parquet or JSON lines, mapped onto the canonical tables.

The mapping comes from a YAML file (`--map mapping.yaml`) and/or flags (`--col user_id=uid`,
`--event-map click=view`, `--ts-format unix_ms`). Columns that already carry canonical names
need no mapping. Example YAML::

    table: events              # events (default), items or reviews
    columns: {user_id: customer, item_id: sku, event_type: action, ts: happened_at}
    event_map: {click: view, add_to_basket: cart, order: purchase}
    ts_format: iso             # iso | unix_s | unix_ms | unix_us | a strptime pattern
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from core.errors import InputError
from store.loaders.amazon import review_id
from store.loaders.base import Loader, map_event_types, ordinals, require_ids
from store.loaders.csvstream import (
    empty_to_null,
    iter_csv_batches,
    parse_epoch_seconds,
    parse_float_column,
    parse_timestamp_text,
    read_header,
)
from store.rawio import check_file, iter_text_lines, read_all_text
from store.schema import EVENT_TYPES, TABLES

REQUIRED: dict[str, list[str]] = {
    "events": ["user_id", "item_id"],
    "items": ["item_id"],
    "reviews": ["user_id", "item_id"],
}
ID_FIELDS = {"user_id", "item_id", "review_id", "session_id"}
FLOAT_FIELDS = {"price", "rating"}
SKIP_FIELDS = {"source", "ordinal"}


def load_mapping(path: Path | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML column mapping and apply command-line overrides on top."""
    mapping: dict[str, Any] = {}
    if path is not None:
        check_file(Path(path))
        try:
            mapping = yaml.safe_load(read_all_text(Path(path))) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(mapping, dict):
            raise InputError(f"{path}: the mapping must be a YAML mapping (key: value)")
    overrides = overrides or {}
    mapping.setdefault("columns", {})
    mapping["columns"].update(overrides.get("columns", {}))
    mapping.setdefault("event_map", {})
    mapping["event_map"].update(overrides.get("event_map", {}))
    for key in ("table", "ts_format", "event_type", "format", "delimiter"):
        if overrides.get(key):
            mapping[key] = overrides[key]
    return mapping


class GenericLoader(Loader):
    """Reads CSV / Parquet / JSONL exports through a column mapping."""

    kind = "generic"
    description = "Your own CSV / Parquet / JSONL export with a column mapping (--map / --col)"

    def __init__(self, path: Path, source: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(path, source, options)
        self.mapping = load_mapping(self.options.get("map"), self.options)
        self.table_name = self.mapping.get("table", "events")
        if self.table_name not in TABLES:
            raise InputError(f"mapping: table must be one of {', '.join(TABLES)}")
        for canonical in self.mapping["columns"]:
            if canonical not in TABLES[self.table_name].names or canonical in SKIP_FIELDS:
                allowed = [n for n in TABLES[self.table_name].names if n not in SKIP_FIELDS]
                raise InputError(
                    f"mapping: '{canonical}' is not a column of {self.table_name}; "
                    f"choose from {', '.join(allowed)}"
                )
        constant = self.mapping.get("event_type")
        if constant is not None and constant not in EVENT_TYPES:
            raise InputError(f"--event-type must be one of {', '.join(EVENT_TYPES)}")

    def input_files(self) -> list[Path]:
        extra = [Path(self.options["map"])] if self.options.get("map") else []
        return [self.path, *extra]

    def _format(self) -> str:
        declared = self.mapping.get("format")
        if declared:
            return str(declared)
        suffixes = [s.lower() for s in self.path.suffixes]
        for fmt, endings in (("parquet", [".parquet", ".pq"]), ("jsonl", [".jsonl", ".ndjson",
                             ".json"]), ("csv", [".csv", ".tsv", ".txt"])):
            if any(s in endings for s in suffixes):
                return fmt
        raise InputError(
            f"{self.path}: cannot tell the format from the name; use --format csv|parquet|jsonl"
        )

    def _batches(self) -> Iterator[tuple[int, pa.Table | pa.RecordBatch, list[str]]]:
        fmt = self._format()
        if fmt == "csv":
            delimiter = self.mapping.get("delimiter") or (
                "\t" if ".tsv" in [s.lower() for s in self.path.suffixes] else ","
            )
            header = read_header(self.path, delimiter)
            for first_row, batch in iter_csv_batches(self.path, delimiter=delimiter):
                yield first_row, batch, header
        elif fmt == "parquet":
            check_file(self.path)
            try:
                parquet = pq.ParquetFile(self.path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"{self.path}: not a Parquet file ({exc})") from exc
            row = 1
            for batch in parquet.iter_batches(batch_size=int(self.options.get("chunk_rows",
                                                                              500_000))):
                yield row, batch, parquet.schema_arrow.names
                row += batch.num_rows
        elif fmt == "jsonl":
            yield from self._jsonl_batches()
        else:
            raise InputError(f"unknown format {fmt!r}; use csv, parquet or jsonl")

    def _jsonl_batches(self) -> Iterator[tuple[int, pa.Table, list[str]]]:
        import json

        rows: list[dict[str, Any]] = []
        names: dict[str, None] = {}
        first_row = 1
        chunk = int(self.options.get("chunk_rows", 200_000))
        for number, line in iter_text_lines(self.path):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{self.path}: line {number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise InputError(f"{self.path}: line {number}: expected a JSON object")
            names.update(dict.fromkeys(record))
            rows.append({k: None if v is None else str(v) if not isinstance(v, str) else v
                         for k, v in record.items()})
            if len(rows) >= chunk:
                yield first_row, pa.Table.from_pylist(rows), list(names)
                first_row += len(rows)
                rows = []
        if rows:
            yield first_row, pa.Table.from_pylist(rows), list(names)

    def _resolve_columns(self, found: list[str]) -> dict[str, str]:
        """canonical name → column in the file."""
        explicit: dict[str, str] = dict(self.mapping["columns"])
        resolved: dict[str, str] = {}
        missing = [f"{raw} (for {canonical})" for canonical, raw in explicit.items()
                   if raw not in found]
        if missing:
            raise InputError(
                f"{self.path}: missing column(s) {', '.join(missing)}; found {', '.join(found)}"
            )
        for field in TABLES[self.table_name]:
            if field.name in SKIP_FIELDS:
                continue
            if field.name in explicit:
                resolved[field.name] = explicit[field.name]
            elif field.name in found:
                resolved[field.name] = field.name
        required = list(REQUIRED[self.table_name])
        if self.table_name == "events" and not self.mapping.get("event_type"):
            required.append("event_type")
        absent = [name for name in required if name not in resolved]
        if absent:
            raise InputError(
                f"{self.path}: missing column(s) {', '.join(absent)} for {self.table_name}; "
                f"found {', '.join(found)}; map them with --col {absent[0]}=<column>"
                + (" or give --event-type" if "event_type" in absent else "")
            )
        return resolved

    def chunks(self) -> Iterator[tuple[str, pa.Table]]:
        ordinal = 0
        resolved: dict[str, str] | None = None
        seen_reviews: set[str] = set()
        event_map = {t: t for t in EVENT_TYPES} | dict(self.mapping.get("event_map", {}))
        for first_row, batch, names in self._batches():
            if resolved is None:
                resolved = self._resolve_columns(names)
            n = batch.num_rows
            self.report.raw_rows += n
            out: dict[str, pa.Array] = {}
            for canonical, raw in resolved.items():
                if raw not in batch.schema.names:
                    continue
                out[canonical] = self._convert(canonical, batch.column(raw), raw, first_row,
                                               event_map)
            if self.table_name == "events":
                if "event_type" not in out:
                    out["event_type"] = pa.repeat(pa.scalar(self.mapping["event_type"]), n)
                out["ordinal"] = ordinals(ordinal, n)
                if "ts" not in out:
                    self.report.untimed = True
            table: pa.Table | None = pa.table(out)
            if self.table_name == "reviews":
                table = self._dedupe_reviews(table, seen_reviews)
            ordinal += n
            if table is not None:
                yield self.table_name, table

    def _convert(self, canonical: str, values: Any, raw: str, first_row: int,
                 event_map: dict[str, str]) -> pa.Array:
        if canonical in ID_FIELDS or canonical in ("item_id", "user_id"):
            text = pc.cast(values, pa.string())
            if canonical in REQUIRED[self.table_name]:
                return require_ids(text, self.path, raw, first_row)
            return empty_to_null(text)
        if canonical == "event_type":
            return map_event_types(pc.cast(values, pa.string()), event_map, self.path, raw,
                                   first_row)
        if canonical == "ts":
            return self._convert_ts(values, raw, first_row)
        if canonical in FLOAT_FIELDS:
            if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
                return pc.cast(values, pa.float64())
            return parse_float_column(pc.cast(values, pa.string()), self.path, raw, first_row)
        target = TABLES[self.table_name].field(canonical).type
        if pa.types.is_string(target):
            return empty_to_null(pc.cast(values, pa.string()))
        if pa.types.is_boolean(target):
            text = pc.utf8_lower(pc.cast(values, pa.string()))
            return pc.is_in(text, value_set=pa.array(["true", "1", "yes", "y", "t"]))
        return pc.cast(values, target)

    def _convert_ts(self, values: Any, raw: str, first_row: int) -> pa.Array:
        fmt = str(self.mapping.get("ts_format") or "")
        if pa.types.is_timestamp(values.type):
            if values.type.tz is None:
                values = pc.assume_timezone(values, "UTC")
            return pc.cast(values, pa.timestamp("us", tz="UTC"))
        text = pc.cast(values, pa.string())
        if fmt.startswith("unix"):
            unit = {"unix_s": "s", "unix": "s", "unix_ms": "ms", "unix_us": "us"}.get(fmt)
            if unit is None:
                raise InputError(f"--ts-format {fmt!r}: use unix_s, unix_ms or unix_us")
            return parse_epoch_seconds(text, self.path, raw, first_row, unit)
        if not fmt and pa.types.is_integer(values.type):
            return parse_epoch_seconds(text, self.path, raw, first_row, _guess_unit(values))
        if not fmt and _all_digits(text):
            integers = pc.cast(text, pa.int64())
            return parse_epoch_seconds(text, self.path, raw, first_row, _guess_unit(integers))
        return parse_timestamp_text(text, self.path, raw, first_row,
                                    None if fmt in ("", "iso") else fmt)

    def _dedupe_reviews(self, table: pa.Table, seen: set[str]) -> pa.Table | None:
        """Drop reviews already seen in this file (same review_id or same content)."""
        rows = table.to_pylist()
        kept = []
        for row in rows:
            rid = row.get("review_id") or review_id(row["user_id"], row["item_id"], row.get("ts"),
                                                    row.get("text"))
            if rid in seen:
                self.report.duplicates_dropped += 1
                continue
            seen.add(rid)
            row["review_id"] = rid
            kept.append(row)
        return pa.Table.from_pylist(kept) if kept else None


def _all_digits(text: Any) -> bool:
    """True when every present value is a plain integer (Unix time written as text)."""
    present = pc.drop_null(text)
    if len(present) == 0:
        return False
    return bool(pc.all(pc.match_substring_regex(present, r"^\s*\d+\s*$")).as_py())


def _guess_unit(values: Any) -> str:
    """Unix time unit from magnitude: seconds until ~2286, then milli-, then microseconds."""
    largest = pc.max(values).as_py() or 0
    if largest > 10**14:
        return "us"
    if largest > 10**11:
        return "ms"
    return "s"
