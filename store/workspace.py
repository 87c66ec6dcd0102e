"""The workspace: a directory of Parquet files, a manifest, and a DuckDB database of views.

Layout::

    <workspace>/
      manifest.json        the single commit point: which files make up which table
      insight.duckdb       views (events, items, reviews, users, and derived tables) over Parquet
      data/<source>/<batch>/<table>-NNNNN.parquet
      derived/<table>/<batch>/part-NNNNN.parquet   tables written by later stages (user_scores…)
      .staging/<batch>/    work in progress; never referenced by the manifest
      .lock                single-writer lock (flock; holds the writer's pid)

One way to write, used by every table writer (ingest, scores, segments, segment names, …)::

    with ws.lock(), ws.stage() as batch:      # wait for the lock, reload the manifest
        ...write Parquet files into batch.staging_dir, list them in batch.files...
        ws.publish_derived("user_scores", batch, meta, partition=source)

or, for one small table, `ws.write_derived(table, arrow_table, meta, partition)`. The manifest is
re-read under the lock, so two writers at once never lose each other's commits: the second waits
(up to `lock_wait_seconds`) and then builds on the first one's manifest.

Writers stage new files aside, move the finished directory into `data/` (a rename), then replace
`manifest.json` atomically (write temp, fsync, `os.replace`). A crash at any point leaves the
previous manifest, so readers keep seeing the previous, complete workspace; unreferenced
directories are swept on the next write. The DuckDB file is rebuilt from the manifest after each
commit (also via temp file + rename), and rebuilt on open if it lags behind the manifest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import WorkspaceError
from store.files import atomic_write_text, exclusive_lock, fsync_dir
from store.schema import TABLES

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DATABASE = "insight.duckdb"
MANIFEST_VERSION = 1


def _utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class SourceFile:
    """One raw input file that was ingested into a source."""

    path: str
    sha256: str
    size: int
    ingested_at: str
    batch: str
    raw_rows: int = 0
    duplicates_dropped: int = 0
    exact_duplicate_rows: int = 0
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class Batch:
    """Files written by one ingest, ready to be published into the workspace."""

    batch_id: str
    staging_dir: Path
    files: dict[str, list[str]] = field(default_factory=dict)  # table -> names in staging_dir
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written


class Workspace:
    """A workspace directory; see the module docstring for the layout and guarantees."""

    def __init__(self, root: Path, lock_wait_seconds: float = 300.0) -> None:
        self.root = Path(root)
        self.lock_wait_seconds = lock_wait_seconds
        self._lock_depth = 0
        self.manifest: dict[str, Any] = self._read_manifest()

    # ----- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, create: bool = False, lock_wait_seconds: float = 300.0) -> Workspace:
        """Open the workspace at `root`; create it when `create` is set.

        A writer waits up to `lock_wait_seconds` for another one to finish.
        """
        root = Path(root)
        if not (root / MANIFEST).exists():
            if not create:
                raise WorkspaceError(
                    f"no workspace at {root} (no {MANIFEST}); run `insight ingest` first"
                )
            root.mkdir(parents=True, exist_ok=True)
            with exclusive_lock(root / ".lock", lock_wait_seconds,
                                f"workspace {root} is being created by another process"):
                if not (root / MANIFEST).exists():
                    empty = {"version": MANIFEST_VERSION, "generation": 0, "sources": {},
                             "derived": {}}
                    atomic_write_text(root / MANIFEST, json.dumps(empty, indent=2))
        return cls(root, lock_wait_seconds)

    def _read_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise WorkspaceError(f"no workspace at {self.root} (no {MANIFEST})") from exc
        except json.JSONDecodeError as exc:
            raise WorkspaceError(f"{path} is not valid JSON: {exc}") from exc
        if manifest.get("version") != MANIFEST_VERSION:
            raise WorkspaceError(f"{path}: unsupported manifest version {manifest.get('version')}")
        manifest.setdefault("derived", {})
        return manifest

    def reload(self) -> None:
        """Re-read the manifest from disk."""
        self.manifest = self._read_manifest()

    # ----- locking & staging ---------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the single-writer lock, then re-read the manifest so the write builds on the
        latest commit. Waits up to `lock_wait_seconds` for another writer; re-entrant."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with exclusive_lock(self.root / ".lock", self.lock_wait_seconds, self._busy()):
            self._lock_depth = 1
            try:
                self.reload()
                yield
            finally:
                self._lock_depth = 0

    @contextlib.contextmanager
    def stage(self) -> Iterator[Batch]:
        """A fresh staging directory for one write (under the lock). Whatever a publish did not
        move into place is deleted on the way out, error or not."""
        self._require_lock("stage")
        batch = self._new_batch()
        try:
            yield batch
        finally:
            shutil.rmtree(batch.staging_dir, ignore_errors=True)

    def write_derived(self, table: str, rows: pa.Table, meta: dict[str, Any],
                      partition: str = "all") -> None:
        """Replace one partition of a derived table with `rows`: lock, stage, publish."""
        with self.lock(), self.stage() as batch:
            name = f"{table}-00000.parquet"
            pq.write_table(rows, batch.staging_dir / name)
            batch.files[table] = [name]
            self.publish_derived(table, batch, meta, partition=partition)

    def _busy(self) -> str:
        return (f"workspace {self.root} is being written by another process for over "
                f"{self.lock_wait_seconds:g} s; try again later")

    def _require_lock(self, action: str) -> None:
        if not self._lock_depth:
            raise WorkspaceError(f"{action} on workspace {self.root} outside `with ws.lock()`; "
                                 "every write goes through the lock")

    def _new_batch(self) -> Batch:
        """Create a fresh staging directory for one write."""
        batch_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        staging = self.root / ".staging" / batch_id
        staging.mkdir(parents=True)
        return Batch(batch_id=batch_id, staging_dir=staging)

    def sweep(self) -> None:
        """Delete staging leftovers and data directories no manifest entry refers to."""
        self._require_lock("sweep")
        shutil.rmtree(self.root / ".staging", ignore_errors=True)
        referenced = {Path(p).parent for p in self._all_files()}
        for top in ("data", "derived"):
            base = self.root / top
            if not base.exists():
                continue
            for batch_dir in base.glob("*/*"):
                rel = batch_dir.relative_to(self.root)
                if batch_dir.is_dir() and rel not in referenced:
                    log.info("removing unreferenced %s", rel)
                    shutil.rmtree(batch_dir, ignore_errors=True)
            for empty in base.glob("*"):
                if empty.is_dir() and not any(empty.iterdir()):
                    empty.rmdir()

    # ----- manifest queries ----------------------------------------------------------------
    @property
    def sources(self) -> dict[str, Any]:
        """Sources by name, as recorded in the manifest."""
        return self.manifest["sources"]

    @property
    def generation(self) -> int:
        """Counter bumped by every commit; the DuckDB views record which one they reflect."""
        return int(self.manifest["generation"])

    def find_file(self, source: str, sha256: str) -> dict[str, Any] | None:
        """The manifest record of a file with this content already ingested into `source`."""
        for record in self.sources.get(source, {}).get("files", []):
            if record["sha256"] == sha256:
                return record
        return None

    def table_files(self, table: str) -> list[str]:
        """Relative paths of all Parquet files of a base or derived table."""
        if table in self.manifest["derived"]:
            parts = self.manifest["derived"][table]["partitions"].values()
            return [f for part in parts for f in part["files"]]
        files: list[str] = []
        for source in self.sources.values():
            files.extend(source["tables"].get(table, []))
        return files

    def _all_files(self) -> list[str]:
        files: list[str] = []
        for source in self.sources.values():
            for paths in source["tables"].values():
                files.extend(paths)
        for derived in self.manifest["derived"].values():
            for part in derived["partitions"].values():
                files.extend(part["files"])
        return files

    # ----- commits -------------------------------------------------------------------------
    def publish_source_batch(
        self,
        source: str,
        kind: str,
        batch: Batch,
        file_record: SourceFile,
        source_meta: dict[str, Any],
        replace: bool = False,
    ) -> None:
        """Move a finished batch into `data/<source>/` and commit it to the manifest.

        With `replace`, the batch becomes the whole source; otherwise it is appended.
        """
        self._require_lock("publish")
        target = self.root / "data" / source / batch.batch_id
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(batch.staging_dir, target)
        fsync_dir(target.parent)
        manifest = json.loads(json.dumps(self.manifest))
        entry = manifest["sources"].get(source)
        if entry is None or replace:
            entry = {"kind": kind, "created_at": _utcnow(), "files": [], "tables": {}}
        if entry["kind"] != kind:
            raise WorkspaceError(
                f"source '{source}' holds '{entry['kind']}' data; cannot add '{kind}' data "
                "(choose another --source or use --replace)"
            )
        entry.update(source_meta)
        entry["files"].append(file_record.__dict__)
        for table, names in batch.files.items():
            rel = [str(Path("data") / source / batch.batch_id / name) for name in names]
            entry["tables"].setdefault(table, []).extend(rel)
        entry["updated_at"] = _utcnow()
        manifest["sources"][source] = entry
        self._commit(manifest)

    def publish_derived(
        self, table: str, batch: Batch, meta: dict[str, Any], partition: str = "all"
    ) -> None:
        """Replace one partition (e.g. one source) of a derived table such as `user_scores`."""
        self._require_lock("publish")
        if table in TABLES or table == "users":
            raise WorkspaceError(f"'{table}' is a base table; derived tables need another name")
        names = batch.files.get(table, [])
        target = self.root / "derived" / table / batch.batch_id
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(batch.staging_dir, target)
        fsync_dir(target.parent)
        manifest = json.loads(json.dumps(self.manifest))
        entry = manifest["derived"].setdefault(table, {"partitions": {}})
        entry["partitions"][partition] = {
            "files": [str(Path("derived") / table / batch.batch_id / n) for n in names],
            "updated_at": _utcnow(),
            **meta,
        }
        self._commit(manifest)

    def derived_meta(self, table: str, partition: str = "all") -> dict[str, Any] | None:
        """The manifest record of one partition of a derived table, if it exists."""
        return self.manifest["derived"].get(table, {}).get("partitions", {}).get(partition)

    def remove_source(self, source: str) -> None:
        """Drop a source from the manifest (its files are swept afterwards)."""
        self._require_lock("remove")
        if source not in self.sources:
            raise WorkspaceError(f"unknown source '{source}'; known: {sorted(self.sources)}")
        manifest = json.loads(json.dumps(self.manifest))
        del manifest["sources"][source]
        self._commit(manifest)

    def _commit(self, manifest: dict[str, Any]) -> None:
        manifest["generation"] = int(manifest.get("generation", 0)) + 1
        manifest["updated_at"] = _utcnow()
        self._commit_manifest(manifest)
        self.manifest = manifest
        self.rebuild_views()
        self.sweep()

    def _commit_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))

    # ----- DuckDB views --------------------------------------------------------------------
    def rebuild_views(self) -> None:
        """Write a fresh DuckDB file whose views match the manifest, and swap it in."""
        tmp = self.root / f".{DATABASE}.{uuid.uuid4().hex}.tmp"
        con = duckdb.connect(str(tmp))
        try:
            for table, schema in TABLES.items():
                con.execute(_view_sql(table, self._abs(self.table_files(table)), schema))
            con.execute(_USERS_VIEW)
            for table in self.manifest["derived"]:
                files = self._abs(self.table_files(table))
                if files:
                    con.execute(f"CREATE VIEW {table} AS SELECT * FROM "
                                f"read_parquet({files!r}, union_by_name=true)")
            con.execute("CREATE TABLE insight_meta AS SELECT ? AS generation, ? AS root",
                        [self.generation, str(self.root.resolve())])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, self.root / DATABASE)
        fsync_dir(self.root)

    def _abs(self, rel_paths: list[str]) -> list[str]:
        return [str((self.root / p).resolve()) for p in rel_paths]

    def _views_generation(self) -> int | None:
        path = self.root / DATABASE
        if not path.exists():
            return None
        try:
            con = duckdb.connect(str(path), read_only=True)
            try:
                row = con.execute("SELECT generation, root FROM insight_meta").fetchone()
            finally:
                con.close()
        except duckdb.Error:
            return None
        if not row or row[1] != str(self.root.resolve()):
            return None  # moved workspace: the views hold absolute paths, rebuild them
        return int(row[0])

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only DuckDB connection to the workspace views."""
        if self._views_generation() != self.generation:
            with self.lock():
                if self._views_generation() != self.generation:
                    self.rebuild_views()
        return duckdb.connect(str(self.root / DATABASE), read_only=True)


def _duck_type(arrow_type: Any) -> str:
    text = str(arrow_type)
    return {
        "string": "VARCHAR",
        "int64": "BIGINT",
        "int32": "INTEGER",
        "float": "REAL",
        "double": "DOUBLE",
        "bool": "BOOLEAN",
        "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    }[text]


def _view_sql(table: str, files: list[str], schema: Any) -> str:
    if files:
        return f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r}, union_by_name=true)"
    columns = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in schema)
    return f"CREATE VIEW {table} AS SELECT {columns} WHERE false"


_USERS_VIEW = """
CREATE VIEW users AS
SELECT source, user_id,
       count(*) AS n_events,
       count(*) FILTER (WHERE event_type = 'purchase') AS n_purchases,
       count(*) FILTER (WHERE event_type = 'review') AS n_reviews,
       count(DISTINCT item_id) AS n_items,
       min(ts) AS first_ts,
       max(ts) AS last_ts
FROM events
GROUP BY source, user_id
"""
