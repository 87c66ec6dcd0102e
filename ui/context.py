"""What every view needs: the workspace, the LLM backend, retrieval, and per-request connections.

Handlers run in Gradio's worker threads, several at once. A DuckDB connection must not be
shared between threads, so each request opens its own read-only connection (`connect`); the
LLM backend is shared (its server queues requests) and the embedder is shared behind a lock
(it switches torch's thread count while it runs). `access` tells each handler what the
request's signed-in user may see and export (`ui.access`). The current checkpoints
(`model_cards`) are read again whenever a ``current.json`` pointer changes (one ``stat`` per
pointer, as the API's `api.live_models`), so a model published by `insight train` (or
`--resume`) shows without restarting the app.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from assistant.llm.backends import LLMBackend
from core.settings import Settings
from retrieval.search import Retriever
from retrieval.store import REVIEWS
from store.checkpoints import Stamp, current_models, pointer_stamps
from store.workspace import Workspace
from ui.access import Access, Pseudonyms, request_access

log = logging.getLogger(__name__)


class LockedEmbedder:
    """An embedder used by one thread at a time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def model_id(self) -> str:
        """The wrapped embedder's model id."""
        return str(self.inner.model_id())

    def dimension(self) -> int:
        """The wrapped embedder's vector size."""
        return int(self.inner.dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed under the lock."""
        with self._lock:
            return self.inner.embed(texts)  # type: ignore[no-any-return]


@dataclass
class AppContext:
    """The workspace, the settings and the shared services of one running app."""

    root: Path
    settings: Settings
    backend: LLMBackend | None
    store: Any = None
    embedder: Any = None
    roles: dict[str, str] | None = None  # login name → role; None: no login asked
    pseudonyms: Pseudonyms = field(default_factory=Pseudonyms)
    _ws_lock: threading.Lock = field(default_factory=threading.Lock)
    _cards: tuple[dict[tuple[str, str], Stamp], list[dict[str, Any]]] | None = None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one request (sees the latest published data)."""
        with self._ws_lock:  # rebuilding views after a publish takes the workspace lock
            con = Workspace.open(self.root).connect()
        try:
            yield con
        finally:
            con.close()

    def model_cards(self) -> list[dict[str, Any]]:
        """The current checkpoint of every source and kind with its metadata.

        Cached until a pointer changes: a page load costs one ``stat`` per pointer, and a new
        checkpoint replaces the cached list in one assignment (readers see old or new).
        """
        stamps = pointer_stamps(self.root)
        cached = self._cards
        if cached is None or cached[0] != stamps:
            cached = (stamps, current_models(self.root))
            self._cards = cached
            log.info("model checkpoints (re)read: %d current", len(cached[1]))
        return cached[1]

    def access(self, request: Any) -> Access:
        """What the user behind a Gradio request (`gr.Request`, or None) may see and export."""
        return request_access(self.settings, self.roles, request, self.pseudonyms)

    def retriever(self, con: duckdb.DuckDBPyConnection) -> Retriever | None:
        """A retriever bound to this request's connection, or None without a review index."""
        if self.store is None or self.embedder is None:
            return None
        return Retriever(con=con, store=self.store, embedder=self.embedder)

    def require_backend(self) -> LLMBackend:
        """The LLM backend; a clear error when the app runs without one."""
        if self.backend is None:
            from assistant.llm.errors import LLMError

            raise LLMError("this app runs without a language model (started with --no-llm)")
        return self.backend


def open_retrieval(settings: Settings, root: Path) -> tuple[Any, Any]:
    """The review index's store and a locked embedder, or (None, None) when not indexed."""
    from retrieval.factory import chroma_dir, create_store

    retrieval = settings.retrieval
    if not retrieval.chroma.host and not chroma_dir(retrieval, root).exists():
        return None, None
    store = create_store(retrieval, root)
    try:
        if store.count(REVIEWS) == 0:
            return None, None
    except Exception as exc:  # an unreachable Chroma server must not stop the app
        log.warning("review index unavailable: %s", exc)
        return None, None
    from retrieval.embedder import create_embedder

    return store, LockedEmbedder(create_embedder(retrieval))
