"""The current checkpoints of each source, loaded once and swapped when a new one is published.

A :class:`ModelSet` is an immutable snapshot (next-item model, intent, churn and segment
models, their versions). :class:`LiveModels` hands out the snapshot of a source and, at most
every `check_s` seconds, compares the ``current.json`` pointers of the source's model kinds
(their mtime and size: one ``stat`` each). When one changed, the changed kinds are loaded in
the calling thread while other requests keep using the old snapshot, and the new snapshot
replaces it by one reference assignment: a request sees either the old models or the new
ones, never a mix.

Checkpoints are loaded without the data-fingerprint check of ``insight score``: the API scores
histories that grow with live events by design (items the model has not seen are skipped). A
checkpoint of another source is still refused.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.errors import InputError
from predictors.models import SASRec, SASRecConfig
from predictors.models.churn import ChurnModel
from predictors.models.intent import IntentModel
from predictors.models.segments import SegmentModel
from predictors.next_item import NextItemModel
from predictors.sequences import IdVocab
from store.checkpoints import (
    CHURN,
    INTENT,
    MODEL_KINDS,
    NEXT_ITEM,
    POINTER_FILE,
    SEGMENTS,
    Stamp,
    models_root,
    pointer_stamp,
)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ModelSet:
    """The models of one source at one moment; any of them may be missing."""

    source: str
    stamps: dict[str, Stamp]
    versions: dict[str, str] = field(default_factory=dict)
    next_item: NextItemModel | None = None
    intent: IntentModel | None = None
    churn: ChurnModel | None = None
    segments: SegmentModel | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """All versions in use joined by '+', in the order of the model kinds ('none')."""
        return "+".join(self.versions[k] for k in MODEL_KINDS if k in self.versions) or "none"

    @property
    def has_behavior(self) -> bool:
        """Whether an intent, churn or segment model is loaded."""
        return any(m is not None for m in (self.intent, self.churn, self.segments))


def _checkpoint_dir(root: Path, source: str, kind: str) -> tuple[Path, dict[str, Any]] | None:
    base = models_root(root) / source / kind
    try:
        version = str(json.loads((base / POINTER_FILE).read_text())["version"])
    except FileNotFoundError:
        return None
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise InputError(f"{base / POINTER_FILE} is unreadable ({exc})") from exc
    path = base / version
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"checkpoint {path} is unreadable ({exc})") from exc
    if meta.get("source") != source or meta.get("kind") != kind:
        raise InputError(f"checkpoint {path} is a {meta.get('kind')} model of source "
                         f"{meta.get('source')!r}, not {kind} of {source!r}")
    return path, meta


def load_next_item_dir(path: Path, meta: dict[str, Any]) -> NextItemModel:
    """A next-item checkpoint directory as a model on the CPU, in eval mode."""
    vocab = IdVocab.from_dict(json.loads((path / "items.json").read_text()))
    model = SASRec(SASRecConfig(**meta["model_config"]))
    model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    return NextItemModel(model=model, items=vocab, use_types=bool(meta["use_types"]),
                         max_len=int(meta["model_config"]["max_len"]), meta=meta)


_LOADERS: dict[str, Any] = {
    NEXT_ITEM: load_next_item_dir,
    INTENT: lambda path, meta: IntentModel.load(path / "model"),
    CHURN: lambda path, meta: ChurnModel.load(path / "model"),
    SEGMENTS: lambda path, meta: SegmentModel.load(path / "model"),
}


class LiveModels:
    """The model snapshot of every source of a workspace, refreshed on a new checkpoint."""

    def __init__(self, root: Path, check_s: float = 1.0) -> None:
        self.root = Path(root)
        self.check_s = check_s
        self.reloads = 0
        self._sets: dict[str, ModelSet] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loading: set[str] = set()

    def _stamps(self, source: str) -> dict[str, Stamp]:
        return {kind: pointer_stamp(self.root, source, kind) for kind in MODEL_KINDS}

    def get(self, source: str) -> ModelSet:
        """The current snapshot of `source` (loaded on first use; reloaded when stale)."""
        current = self._sets.get(source)
        now = time.monotonic()
        if current is not None and now - self._checked.get(source, 0.0) < self.check_s:
            return current
        self._checked[source] = now
        stamps = self._stamps(source)
        if current is not None and stamps == current.stamps:
            return current
        with self._lock:
            if source in self._loading and current is not None:
                return current  # another thread is loading; keep serving the old models
            self._loading.add(source)
        try:
            fresh = self._load(source, stamps, current)
        finally:
            with self._lock:
                self._loading.discard(source)
        self._sets[source] = fresh  # the atomic switch
        if current is not None:
            self.reloads += 1
            log.info("source %s: models now %s (were %s)", source, fresh.version,
                     current.version)
        return fresh

    def _load(self, source: str, stamps: dict[str, Stamp], old: ModelSet | None) -> ModelSet:
        loaded: dict[str, Any] = {}
        versions: dict[str, str] = {}
        errors: dict[str, str] = {}
        for kind in MODEL_KINDS:
            if old is not None and stamps[kind] == old.stamps.get(kind):
                if kind in old.versions:
                    loaded[kind] = getattr(old, kind)
                    versions[kind] = old.versions[kind]
                elif kind in old.errors:
                    errors[kind] = old.errors[kind]
                continue
            try:
                found = _checkpoint_dir(self.root, source, kind)
                if found is None:
                    continue
                path, meta = found
                loaded[kind] = _LOADERS[kind](path, meta)
                versions[kind] = str(meta["version"])
            except (InputError, OSError, RuntimeError, KeyError, ValueError) as exc:
                log.warning("source %s: cannot load the %s checkpoint: %s", source, kind, exc)
                errors[kind] = f"the {kind} checkpoint cannot be loaded: {exc}"
        return ModelSet(source=source, stamps=stamps, versions=versions, errors=errors,
                        **loaded)
