"""Incremental indexing of the workspace into the vector store.

Every document has a stable id and a content hash (of the embedding model, the text and the
metadata) stored in its metadata. A run reads the stored hashes, embeds and upserts only new or
changed documents, in batches, and deletes records whose source rows are gone. A second run on
unchanged data embeds nothing. Only one indexer writes at a time (file lock). Review text is
indexed with personal data masked unless `mask_pii` is off (turning it on or off changes the
texts, so the next run re-embeds them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from tqdm.auto import tqdm

from retrieval.documents import (
    Document,
    count_items,
    count_reviews,
    item_documents,
    review_documents,
)
from retrieval.embedder import Embedder
from retrieval.lock import index_lock
from retrieval.store import ITEMS, REVIEWS, SUMMARIES, VectorStore
from retrieval.summaries import count_users, summary_documents

log = logging.getLogger(__name__)

HASH_KEY = "content_hash"

DocSource = Callable[[duckdb.DuckDBPyConnection, Sequence[str] | None], Iterator[Document]]
Counter = Callable[[duckdb.DuckDBPyConnection, Sequence[str] | None], int]

BUILDERS: dict[str, tuple[DocSource, Counter]] = {
    REVIEWS: (review_documents, count_reviews),
    ITEMS: (item_documents, count_items),
    SUMMARIES: (summary_documents, count_users),
}


@dataclass
class CollectionReport:
    """What one collection's update did."""

    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    seconds: float = 0.0


@dataclass
class IndexReport:
    """What an index run did, per collection and in total."""

    collections: dict[str, CollectionReport] = field(default_factory=dict)

    @property
    def embedded(self) -> int:
        """Documents embedded (new or changed) in all collections."""
        return sum(c.embedded for c in self.collections.values())

    @property
    def unchanged(self) -> int:
        """Documents skipped because their content hash matched."""
        return sum(c.unchanged for c in self.collections.values())

    @property
    def deleted(self) -> int:
        """Records removed because their rows left the workspace."""
        return sum(c.deleted for c in self.collections.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {"embedded": self.embedded, "unchanged": self.unchanged, "deleted": self.deleted,
                "collections": {k: asdict(v) for k, v in self.collections.items()}}


def content_hash(model_id: str, doc: Document) -> str:
    """Hash of everything that determines a stored record (model, text, metadata)."""
    payload = json.dumps({"model": model_id, "text": doc.text, "meta": doc.metadata},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(eq=False, repr=False)
class Indexer:
    """Keeps the vector store's collections in step with a workspace.

    Built as `Indexer(store, embedder, lock_path, batch_size=…, progress=…, mask_pii=…)`.
    """

    store: VectorStore
    embedder: Embedder
    lock_path: Path
    _: KW_ONLY
    batch_size: int = 512
    progress: bool = True
    mask_pii: bool = True

    def run(self, con: duckdb.DuckDBPyConnection, sources: Sequence[str] | None = None,
            collections: Sequence[str] = (REVIEWS, ITEMS, SUMMARIES)) -> IndexReport:
        """Update `collections` from the workspace (only `sources` when given)."""
        report = IndexReport()
        with index_lock(self.lock_path):
            for name in collections:
                build, count = BUILDERS[name]
                docs = (review_documents(con, sources, mask_pii=self.mask_pii)
                        if name == REVIEWS else build(con, sources))
                report.collections[name] = self._update(name, docs, count(con, sources),
                                                        sources)
        log.info("index: %d embedded, %d unchanged, %d deleted",
                 report.embedded, report.unchanged, report.deleted)
        return report

    def _stored_hashes(self, collection: str, sources: Sequence[str] | None) -> dict[str, str]:
        wanted = set(sources) if sources else None
        stored: dict[str, str] = {}
        for rid, meta in self.store.iter_metadata(collection):
            if wanted is None or meta.get("source") in wanted:
                stored[rid] = str(meta.get(HASH_KEY, ""))
        return stored

    def _update(self, collection: str, docs: Iterator[Document], total: int,
                sources: Sequence[str] | None) -> CollectionReport:
        started = time.perf_counter()
        report = CollectionReport()
        stored = self._stored_hashes(collection, sources)
        seen: set[str] = set()
        pending: list[tuple[Document, str]] = []
        bar = tqdm(total=total, desc=f"index {collection}", unit="doc",
                   disable=not self.progress, leave=False)
        try:
            for doc in docs:
                if doc.id in seen:
                    log.warning("duplicate id %s in %s; keeping the first", doc.id, collection)
                    continue
                seen.add(doc.id)
                digest = content_hash(self.embedder.model_id, doc)
                if stored.get(doc.id) == digest:
                    report.unchanged += 1
                    bar.update(1)
                    continue
                pending.append((doc, digest))
                if len(pending) >= self._window():
                    report.embedded += self._flush(collection, pending)
                    bar.update(len(pending))
                    pending = []
            if pending:
                report.embedded += self._flush(collection, pending)
                bar.update(len(pending))
        finally:
            bar.close()
        gone = sorted(set(stored) - seen)
        if gone:
            self.store.delete(collection, gone)
        report.deleted = len(gone)
        report.seconds = round(time.perf_counter() - started, 3)
        log.info("%s: %d embedded, %d unchanged, %d deleted (%.1fs)", collection,
                 report.embedded, report.unchanged, report.deleted, report.seconds)
        return report

    def _window(self) -> int:
        """Documents gathered before they are embedded (one upsert batch in process)."""
        return self.batch_size

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts`, in order; the Ray engine (`retrieval.ray_index`) overrides it."""
        return self.embedder.embed(texts)

    def _flush(self, collection: str, window: list[tuple[Document, str]]) -> int:
        vectors = self._embed([doc.text for doc, _ in window])
        for start in range(0, len(window), self.batch_size):
            batch = window[start:start + self.batch_size]
            self.store.upsert(collection, [doc.id for doc, _ in batch],
                              vectors[start:start + self.batch_size],
                              [doc.text for doc, _ in batch],
                              [{**doc.metadata, HASH_KEY: digest} for doc, digest in batch])
        return len(window)
