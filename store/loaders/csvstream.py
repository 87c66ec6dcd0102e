"""Streaming CSV reading with Arrow, and conversions shared by the clickstream loaders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.errors import InputError
from store.loaders.base import first_invalid
from store.rawio import arrow_stream, find_non_utf8_line


def iter_csv_batches(
    path: Path,
    column_names: Sequence[str] | None = None,
    block_size: int = 16 << 20,
    delimiter: str = ",",
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Yield (1-based data row number of the batch's first row, batch) with every column a string.

    Reading everything as text keeps bad values inspectable (row and value in the error) and
    makes invalid UTF-8 fail instead of silently turning into binary.
    """
    read = pacsv.ReadOptions(block_size=block_size, column_names=column_names)
    parse = pacsv.ParseOptions(delimiter=delimiter)
    stream = arrow_stream(path)
    try:
        header = _peek_header(path, column_names, delimiter)
        convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        reader = pacsv.open_csv(stream, read_options=read, parse_options=parse,
                                convert_options=convert)
        row = 1
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            yield row, batch
            row += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise _explain(path, exc) from exc
    except OSError as exc:
        raise InputError(f"{path}: corrupt or truncated compressed stream ({exc})") from exc
    finally:
        stream.close()


def _peek_header(path: Path, column_names: Sequence[str] | None, delimiter: str) -> list[str]:
    if column_names is not None:
        return list(column_names)
    stream = arrow_stream(path)
    head = b""
    try:
        while b"\n" not in head and len(head) < (1 << 20):
            piece = stream.read(4096)
            if not piece:
                break
            head += piece
    except OSError as exc:
        raise InputError(f"{path}: corrupt or truncated compressed stream ({exc})") from exc
    finally:
        stream.close()
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: line 1: header is not UTF-8 text") from exc
    return [c.strip().strip('"') for c in text.split(delimiter)]


def read_header(path: Path, delimiter: str = ",") -> list[str]:
    """Column names of a CSV file's first line."""
    return _peek_header(path, None, delimiter)


def _explain(path: Path, exc: pa.ArrowInvalid) -> InputError:
    message = str(exc)
    if "UTF8" in message or "UTF-8" in message:
        line = find_non_utf8_line(path)
        where = f"line {line}: " if line else ""
        return InputError(
            f"{path}: {where}not UTF-8 text; re-encode the file as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8`)"
        )
    if "Empty CSV file" in message:
        return InputError(f"{path}: no rows (empty CSV)")
    return InputError(f"{path}: cannot parse CSV: {message.splitlines()[0]}")


def parse_int_column(
    values: pa.ChunkedArray | pa.Array, path: Path, column: str, first_row: int
) -> pa.Array:
    """Cast a text column of integers, reporting the first bad row and value."""
    try:
        return pc.cast(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        trimmed = pc.utf8_trim_whitespace(values)
        ok = pc.match_substring_regex(trimmed, r"^[+-]?\d+$")
        bad = pc.and_(pc.invert(ok), pc.is_valid(values))
        position = first_invalid(bad) or 0
        raise InputError(
            f"{path}: row {first_row + position}: column '{column}' has "
            f"{values[position].as_py()!r}, expected an integer"
        ) from None


def parse_epoch_seconds(
    values: pa.ChunkedArray | pa.Array, path: Path, column: str, first_row: int, unit: str = "s"
) -> pa.Array:
    """Unix time (in `unit`) → UTC timestamp; bad values fail with row and value."""
    integers = parse_int_column(values, path, column, first_row)
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
    micros = pc.multiply_checked(integers, scale)
    return pc.cast(micros, pa.timestamp("us", tz="UTC"))


def parse_timestamp_text(
    values: pa.ChunkedArray | pa.Array,
    path: Path,
    column: str,
    first_row: int,
    fmt: str | None = None,
) -> pa.Array:
    """Timestamps written as text → UTC; `fmt` is a strptime pattern, else ISO 8601.

    Values without an offset are taken as UTC. Unparseable values fail with row and value.
    """
    if fmt:
        parsed = pc.strptime(values, format=fmt, unit="us", error_is_null=True)
        if parsed.type.tz is None:
            parsed = pc.assume_timezone(parsed, "UTC")
    else:
        parsed = _parse_iso(values)
    bad = pc.and_(pc.is_null(parsed), pc.is_valid(values))
    position = first_invalid(bad)
    if position is not None:
        hint = f" matching {fmt!r}" if fmt else " (ISO 8601, e.g. 2019-10-01 00:00:00+00:00)"
        raise InputError(
            f"{path}: row {first_row + position}: unparseable timestamp "
            f"{values[position].as_py()!r} in column '{column}'; expected a time{hint}"
        )
    return pc.cast(parsed, pa.timestamp("us", tz="UTC"))


def _parse_iso(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(values)
    text = pc.replace_substring_regex(text, r" UTC$", "+00:00")
    text = pc.replace_substring_regex(text, r"Z$", "+00:00")
    out = None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        # Fractional seconds are dropped before parsing; Arrow's strptime has no %f.
        cleaned = pc.replace_substring_regex(text, r"\.\d+", "")
        attempt = pc.strptime(cleaned, format=fmt, unit="us", error_is_null=True)
        if attempt.type.tz is None:
            attempt = pc.assume_timezone(attempt, "UTC")
        attempt = pc.cast(attempt, pa.timestamp("us", tz="UTC"))
        out = attempt if out is None else pc.coalesce(out, attempt)
    return out


def empty_to_null(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Empty or whitespace-only strings become null."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def parse_float_column(
    values: pa.ChunkedArray | pa.Array, path: Path, column: str, first_row: int
) -> pa.Array:
    """Cast a text column of decimals (empty → null), reporting the first bad row and value."""
    cleaned = empty_to_null(values)
    try:
        return pc.cast(cleaned, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.match_substring_regex(cleaned, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
        bad = pc.and_(pc.invert(pc.fill_null(ok, True)), pc.is_valid(cleaned))
        position = first_invalid(bad) or 0
        raise InputError(
            f"{path}: row {first_row + position}: column '{column}' has "
            f"{values[position].as_py()!r}, expected a number"
        ) from None
