"""Ingest one raw file into a workspace: load, validate, stage, publish atomically.

Re-ingesting a file whose content is already in the source is a no-op. Any failure (bad input,
crash, kill) leaves the workspace exactly as it was: nothing is visible until the manifest is
replaced, which is the last step.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from core.errors import InputError
from store.loaders import make_loader
from store.rawio import check_file, file_sha256
from store.schema import TABLES, conform
from store.workspace import Batch, SourceFile, Workspace, _utcnow

log = logging.getLogger(__name__)

ROWS_PER_FILE = 5_000_000


@dataclass
class IngestResult:
    """What an ingest did: rows per table, duplicates dropped, timing."""

    source: str
    kind: str
    path: str
    skipped: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    raw_rows: int = 0
    duplicates_dropped: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def default_source_name(path: Path) -> str:
    """A source name from the file name: `Gift_Cards_5.json.gz` → `gift_cards_5`."""
    name = Path(path).name
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        name = name.removesuffix(suffix)
    name = name.rsplit(".", 1)[0] if "." in name else name
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug or "data"


def check_source_name(source: str) -> str:
    """Source names become directory names and SQL values: keep them simple."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", source):
        raise InputError(
            f"bad source name {source!r}: use letters, digits, '_', '-', '.' (max 64 characters)"
        )
    return source


class _TableWriters:
    """Parquet writers for one batch, one rolling file series per table."""

    def __init__(self, batch: Batch, source: str) -> None:
        self.batch = batch
        self.source = source
        self.rows: dict[str, int] = {}
        self._writers: dict[str, tuple[pq.ParquetWriter, int]] = {}

    def write(self, table_name: str, chunk: pa.Table) -> None:
        if chunk.num_rows == 0:
            return
        chunk = conform(chunk, table_name, self.source)
        writer, rows_in_file = self._writers.get(table_name, (None, 0))
        if writer is None or rows_in_file >= ROWS_PER_FILE:
            if writer is not None:
                writer.close()
            names = self.batch.files.setdefault(table_name, [])
            name = f"{table_name}-{len(names):05d}.parquet"
            names.append(name)
            writer = pq.ParquetWriter(self.batch.staging_dir / name, TABLES[table_name],
                                      compression="zstd")
            rows_in_file = 0
        writer.write_table(chunk)
        self._writers[table_name] = (writer, rows_in_file + chunk.num_rows)
        self.rows[table_name] = self.rows.get(table_name, 0) + chunk.num_rows

    def close(self) -> None:
        for writer, _ in self._writers.values():
            writer.close()
        self._writers.clear()


def fingerprint(paths: list[Path]) -> str:
    """One hash over the content of every input file of a load."""
    if len(paths) == 1:
        return file_sha256(paths[0])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def ingest(
    kind: str,
    path: Path,
    workspace: Path,
    source: str | None = None,
    replace: bool = False,
    options: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> IngestResult:
    """Load `path` with the `kind` loader into `workspace` under `source`; see module docstring."""
    started = time.perf_counter()
    path = check_file(Path(path))
    source = check_source_name(source or default_source_name(path))
    loader = make_loader(kind, path, source, options)
    inputs = loader.input_files()
    for extra in inputs[1:]:
        check_file(extra)
    ws = Workspace.open(workspace, create=True)
    result = IngestResult(source=source, kind=kind, path=str(path))
    with ws.lock():
        ws.sweep()
        digest = fingerprint(inputs)
        if not replace and ws.find_file(source, digest) is not None:
            result.skipped = True
            result.notes.append(f"{path.name} is already in source '{source}'; nothing to do")
            log.info("%s already ingested into %s; skipping", path, source)
            result.seconds = time.perf_counter() - started
            return result
        with ws.stage() as batch:
            _load_into(batch, loader, source, progress)
            rows = _derive_tables(batch, loader, source)
            if rows.get("events", 0) + rows.get("items", 0) + rows.get("reviews", 0) == 0:
                raise InputError(f"{path}: no rows to ingest (the file holds no data)")
            record = SourceFile(
                path=str(path.resolve()),
                sha256=digest,
                size=sum(p.stat().st_size for p in inputs),
                ingested_at=_utcnow(),
                batch=batch.batch_id,
                raw_rows=loader.report.raw_rows,
                duplicates_dropped=loader.report.duplicates_dropped,
                exact_duplicate_rows=loader.report.exact_duplicate_rows,
                rows=rows,
            )
            meta = {"untimed": loader.report.untimed,
                    "inputs": [str(p.resolve()) for p in inputs]}
            ws.publish_source_batch(source, kind, batch, record, meta, replace=replace)
    result.rows = rows
    result.raw_rows = loader.report.raw_rows
    result.duplicates_dropped = loader.report.duplicates_dropped
    result.notes.extend(loader.report.notes)
    result.seconds = time.perf_counter() - started
    log.info("ingested %s into %s: %s in %.1fs", path, source, rows, result.seconds)
    return result


def _load_into(batch: Batch, loader: Any, source: str, progress: bool | None) -> None:
    writers = _TableWriters(batch, source)
    bar = tqdm(desc=f"ingest {loader.path.name}", unit=" rows", unit_scale=True,
               disable=None if progress is None else not progress, leave=False)
    try:
        for table_name, chunk in loader.chunks():
            writers.write(table_name, chunk)
            bar.update(chunk.num_rows)
    finally:
        writers.close()
        bar.close()
    batch.rows = writers.rows


def _derive_tables(batch: Batch, loader: Any, source: str) -> dict[str, int]:
    rows: dict[str, int] = dict(batch.rows)
    derived = loader.derived_sql()
    if not derived or "events" not in batch.files:
        return rows
    con = duckdb.connect()
    try:
        files = [str(batch.staging_dir / n) for n in batch.files["events"]]
        con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r})")
        for table_name, sql in derived.items():
            if table_name in batch.files:
                continue
            table = con.sql(sql).to_arrow_table()
            writers = _TableWriters(batch, source)
            writers.write(table_name, table)
            writers.close()
            rows.update(writers.rows)
    finally:
        con.close()
    return rows
