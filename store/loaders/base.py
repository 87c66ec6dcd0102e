"""What every loader shares: the interface, the load report, and column checks."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InputError
from store.schema import EVENT_TYPES


@dataclass
class LoadReport:
    """Counts a loader gathers while reading, stored in the manifest and shown by `stats`."""

    raw_rows: int = 0
    duplicates_dropped: int = 0
    exact_duplicate_rows: int = 0  # rows identical in every field to an earlier row
    untimed: bool = False
    notes: list[str] = field(default_factory=list)


class Loader(abc.ABC):
    """Reads one raw input into canonical tables, chunk by chunk (bounded memory)."""

    kind: str = ""
    description: str = ""

    def __init__(self, path: Path, source: str, options: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.source = source
        self.options: dict[str, Any] = dict(options or {})
        self.report = LoadReport()

    def input_files(self) -> list[Path]:
        """Every file this load reads (the fingerprint covers all of them)."""
        return [self.path]

    @abc.abstractmethod
    def chunks(self) -> Iterator[tuple[str, pa.Table]]:
        """Yield (table name, rows) in canonical column names; the caller conforms and writes."""

    def derived_sql(self) -> dict[str, str]:
        """Tables derived after loading, as DuckDB SQL over the staged `events` view."""
        return {}


def require_columns(path: Path, found: Iterable[str], expected: Iterable[str], what: str) -> None:
    """Raise naming the missing columns, the expected set and what was found."""
    found_list = list(found)
    missing = [c for c in expected if c not in found_list]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} for {what}; "
            f"expected {', '.join(expected)}; found {', '.join(found_list) or 'no columns'}"
        )


def map_event_types(
    values: pa.Array | pa.ChunkedArray,
    mapping: Mapping[str, str],
    path: Path,
    column: str,
    first_row: int,
) -> pa.Array:
    """Translate raw event labels to canonical ones; unknown labels fail with a mapping hint.

    `first_row` is the 1-based data row number of `values[0]`, for the error message.
    """
    raw = pa.array(list(mapping.keys()), pa.string())
    canonical = pa.array(list(mapping.values()), pa.string())
    index = pc.index_in(values, value_set=raw)
    bad = pc.and_(pc.is_null(index), pc.is_valid(values))
    missing_label = pc.is_null(values)
    if pc.any(bad).as_py() or pc.any(missing_label).as_py():
        problem = pc.or_(bad, missing_label)
        position = pc.index(problem, True).as_py()
        value = values[position].as_py()
        known = sorted(set(mapping))
        raise InputError(
            f"{path}: row {first_row + position}: unknown event type {value!r} in column "
            f"'{column}' (known: {', '.join(known)}); map it with "
            f"--event-map {value or 'LABEL'}=<one of {'/'.join(EVENT_TYPES)}>"
        )
    return pc.take(canonical, index)


def parse_event_map(pairs: Iterable[str]) -> dict[str, str]:
    """Parse `raw=canonical` pairs from the command line and check the canonical side."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        raw, sep, canonical = pair.partition("=")
        if not sep or not raw or canonical not in EVENT_TYPES:
            raise InputError(
                f"bad --event-map {pair!r}: write RAW=TYPE, TYPE one of {', '.join(EVENT_TYPES)}"
            )
        mapping[raw] = canonical
    return mapping


def first_invalid(mask: pa.Array | pa.ChunkedArray) -> int | None:
    """Index of the first True in a boolean mask, or None."""
    if not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())


def require_ids(
    values: pa.Array | pa.ChunkedArray, path: Path, column: str, first_row: int
) -> pa.Array:
    """Trimmed id strings; an empty or missing id fails with its row."""
    trimmed = pc.utf8_trim_whitespace(values)
    bad = pc.fill_null(pc.equal(trimmed, ""), True)
    position = first_invalid(bad)
    if position is not None:
        raise InputError(f"{path}: row {first_row + position}: empty {column}")
    return trimmed


def ordinals(start: int, n: int) -> pa.Array:
    """Row positions `start … start+n-1`, the file order kept with every event."""
    return pa.array(np.arange(start, start + n, dtype=np.int64))
