"""Builds the configured vector store and indexer for a workspace (chosen by settings)."""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.settings import RetrievalSettings
from retrieval.chroma_store import ChromaStore
from retrieval.embedder import Embedder, create_embedder
from retrieval.indexer import Indexer
from retrieval.store import VectorStore

LOCK_NAME = ".index.lock"


def chroma_dir(settings: RetrievalSettings, workspace: Path) -> Path:
    """Where the on-disk Chroma store lives: the setting, or `<workspace>/chroma`."""
    return (settings.chroma.path or workspace / "chroma").expanduser()


def create_store(settings: RetrievalSettings, workspace: Path) -> VectorStore:
    """The vector store named by the settings: a Chroma server if a host is set, else on disk."""
    if settings.vector_store != "chroma":
        raise InputError(f"unknown vector store {settings.vector_store!r}")
    if settings.chroma.host:
        return ChromaStore.http(settings.chroma.host, settings.chroma.port, settings.chroma.ssl)
    return ChromaStore.persistent(chroma_dir(settings, workspace))


def create_indexer(settings: RetrievalSettings, workspace: Path, *, progress: bool = True,
                   store: VectorStore | None = None,
                   embedder: Embedder | None = None, mask_pii: bool = True) -> Indexer:
    """An indexer over the configured store and embedder, locked per workspace; review text
    is indexed with personal data masked unless `mask_pii` is off."""
    return Indexer(store or create_store(settings, workspace),
                   embedder or create_embedder(settings), workspace / LOCK_NAME,
                   batch_size=settings.upsert_batch_size, progress=progress, mask_pii=mask_pii)
