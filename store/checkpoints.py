"""Versioned model checkpoints inside the workspace, each with a metadata JSON.

Layout: `<workspace>/models/<source>/<kind>/<version>/` holding the weights and `meta.json`
(data fingerprint, parameters, metrics), plus `current.json` naming the version in use. A new
version is written aside and published by renaming the directory and then replacing
`current.json` atomically, so a crash never leaves a half-written model in use.

This module is also the one registry of model kinds (:data:`MODEL_KINDS`) and of the current
model per source and kind (:func:`current_version`, :func:`current_models`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from core.errors import InputError
from store.files import atomic_write_text
from store.readers import source_fingerprint
from store.workspace import Workspace

Stamp = tuple[int, int] | None
"""(mtime_ns, size) of a ``current.json`` pointer; None when there is none."""

KEEP_VERSIONS = 3
POINTER_FILE = "current.json"
META_FILE = "meta.json"

NEXT_ITEM, INTENT, CHURN, SEGMENTS = "next_item", "intent", "churn", "segments"
MODEL_KINDS: tuple[str, ...] = (NEXT_ITEM, INTENT, CHURN, SEGMENTS)
"""Every model kind a source can have, in training order (next-item embeddings feed segments)."""


def models_root(root: Path) -> Path:
    """Directory holding every checkpoint of the workspace at `root`."""
    return Path(root) / "models"


def model_dir(ws: Workspace, source: str, kind: str) -> Path:
    """Directory holding every version of one model kind for one source."""
    return models_root(ws.root) / source / kind


def _pointed_version(base: Path) -> str | None:
    """The version `current.json` of a kind's directory names; None when there is none."""
    pointer = base / POINTER_FILE
    if not pointer.exists():
        return None
    return str(json.loads(pointer.read_text())["version"])


def current_version(ws: Workspace, source: str, kind: str) -> str | None:
    """The version of `kind` in use for `source`; None when none was trained."""
    return _pointed_version(model_dir(ws, source, kind))


def pointer_stamp(root: Path, source: str, kind: str) -> Stamp:
    """(mtime_ns, size) of the `current.json` of one source and kind; None when absent.

    One ``stat``: the cheap test every long-lived reader (API, app) uses to notice that a new
    version was published without reading any checkpoint.
    """
    try:
        st = (models_root(root) / source / kind / POINTER_FILE).stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def pointer_stamps(root: Path) -> dict[tuple[str, str], Stamp]:
    """The pointer stamp of every (source, kind) with a model directory under workspace `root`."""
    base = models_root(root)
    if not base.exists():
        return {}
    return {(d.name, kind): pointer_stamp(root, d.name, kind)
            for d in sorted(p for p in base.iterdir() if p.is_dir()) for kind in MODEL_KINDS}


def data_extent(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, Any]:
    """How much data of `source` a model sees now: event count and the last event time.

    Recorded in checkpoint metadata so that "events since the checkpoint" is well defined
    when a model is later fine-tuned (``insight train --resume``); the time is None for
    untimed sources.
    """
    n, last = con.execute("SELECT count(*), max(ts) FROM events WHERE source = ?",
                          [source]).fetchone() or (0, None)
    return {"events": int(n), "last_event_ts": None if last is None else str(last)}


def current_models(root: Path) -> list[dict[str, Any]]:
    """The current checkpoint of every source and kind under workspace `root`, with metadata.

    One ``{"source", "kind", "meta"}`` dict each, sources sorted, kinds in
    :data:`MODEL_KINDS` order; unreadable checkpoints are left out.
    """
    base = models_root(root)
    if not base.exists():
        return []
    found: list[dict[str, Any]] = []
    for source_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for kind in MODEL_KINDS:
            try:
                version = _pointed_version(source_dir / kind)
                if version is None:
                    continue
                meta = json.loads((source_dir / kind / version / META_FILE).read_text())
            except (OSError, KeyError, json.JSONDecodeError):
                continue
            found.append({"source": source_dir.name, "kind": kind, "meta": meta})
    return found


def save_checkpoint(
    ws: Workspace,
    source: str,
    kind: str,
    write_files: Callable[[Path], None],
    meta: dict[str, Any],
) -> str:
    """Write a new model version with `write_files(dir)` and make it current; returns it."""
    base = model_dir(ws, source, kind)
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC)
    version = f"{kind}-{stamp.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    tmp = base / f".tmp-{version}"
    tmp.mkdir()
    try:
        write_files(tmp)
        full_meta = {
            "kind": kind,
            "version": version,
            "source": source,
            "created_at": stamp.isoformat(timespec="seconds"),
            "data_fingerprint": source_fingerprint(ws, source),
            "workspace": str(ws.root.resolve()),
            **meta,
        }
        (tmp / META_FILE).write_text(json.dumps(full_meta, indent=2, default=str))
        os.replace(tmp, base / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(base / POINTER_FILE, json.dumps({"version": version}))
    _prune(base, keep=version)
    return version


def _prune(base: Path, keep: str) -> None:
    versions = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(
    ws: Workspace, source: str, kind: str, check_data: bool = True
) -> tuple[Path, dict[str, Any]]:
    """The current version's directory and metadata; clear errors when absent or stale.

    With `check_data`, a checkpoint trained on other data (another workspace, or the source
    changed since) is refused: its item ids and scores would not match.
    """
    base = model_dir(ws, source, kind)
    version = _pointed_version(base)
    if version is None:
        raise InputError(
            f"no trained {kind} model for source '{source}' in {ws.root}; "
            f"run `insight train --source {source}` first"
        )
    path = base / version
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"checkpoint {path} is unreadable ({exc}); retrain it") from exc
    if check_data:
        check_checkpoint_matches(ws, source, meta)
    return path, meta


def check_checkpoint_matches(ws: Workspace, source: str, meta: dict[str, Any]) -> None:
    """Refuse a checkpoint whose data fingerprint differs from the workspace's source."""
    current = source_fingerprint(ws, source)
    if meta.get("source") != source or meta.get("data_fingerprint") != current:
        raise InputError(
            f"checkpoint {meta.get('version')} was trained on different data "
            f"(source '{meta.get('source')}', fingerprint {meta.get('data_fingerprint')}; "
            f"this workspace's '{source}' is {current}); retrain with `insight train`"
        )
