"""`VectorStore` over Chroma: an on-disk PersistentClient, or an HttpClient for a server.

Collections use cosine space and no Chroma embedding function: vectors always come from our
`Embedder`, so Chroma never tries to download its own default model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import WorkspaceError
from retrieval.store import Hit, Metadata, Records

log = logging.getLogger(__name__)


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaConfig

    return ChromaConfig(anonymized_telemetry=False)


class ChromaStore:
    """Chroma collections named as in `retrieval.store` (reviews, items, behavior_summaries)."""

    def __init__(self, client: Any, description: str) -> None:
        self._client = client
        self.description = description
        self._collections: dict[str, Any] = {}
        try:
            self._max_batch = int(client.get_max_batch_size())
        except Exception:  # noqa: BLE001 - older servers do not report it
            self._max_batch = 5000

    @classmethod
    def persistent(cls, path: Path) -> ChromaStore:
        """Open (creating) an on-disk store in `path`."""
        import chromadb

        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        return cls(client, f"chroma:{path}")

    @classmethod
    def http(cls, host: str, port: int, ssl: bool = False) -> ChromaStore:
        """Connect to a Chroma server; fails with one clear line when it is not reachable."""
        import chromadb

        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl,
                                         settings=_chroma_settings())
            client.heartbeat()
        except Exception as exc:  # noqa: BLE001 - chromadb raises many transport errors
            raise WorkspaceError(f"Chroma server {host}:{port} is not reachable: {exc}") from exc
        return cls(client, f"chroma-http:{host}:{port}")

    def _collection(self, name: str, create: bool = True) -> Any | None:
        if name in self._collections:
            return self._collections[name]
        if create:
            collection = self._client.get_or_create_collection(
                name=name, embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}})
        else:
            try:
                collection = self._client.get_collection(name=name, embedding_function=None)
            except Exception:  # noqa: BLE001 - NotFoundError differs across versions
                return None
        self._collections[name] = collection
        return collection

    def _batches(self, n: int) -> Iterator[slice]:
        for start in range(0, n, self._max_batch):
            yield slice(start, min(n, start + self._max_batch))

    def upsert(self, collection: str, ids: Sequence[str], embeddings: np.ndarray,
               documents: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        """Insert or replace records (split to the client's maximum batch size)."""
        target = self._collection(collection)
        for part in self._batches(len(ids)):
            target.upsert(ids=list(ids[part]), embeddings=np.asarray(embeddings[part]),
                          documents=list(documents[part]),
                          metadatas=[dict(m) for m in metadatas[part]])

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove records by id."""
        target = self._collection(collection, create=False)
        if target is None or not ids:
            return
        for part in self._batches(len(ids)):
            target.delete(ids=list(ids[part]))

    def get(self, collection: str, ids: Sequence[str], *,
            with_embeddings: bool = False) -> Records:
        """Fetch records by id, in the order of `ids` (missing ones left out)."""
        target = self._collection(collection, create=False)
        if target is None or not ids:
            return Records([], [], [], np.zeros((0, 0), dtype=np.float32)
                           if with_embeddings else None)
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        result = target.get(ids=list(ids), include=include)
        position = {rid: i for i, rid in enumerate(result["ids"])}
        order = [position[rid] for rid in ids if rid in position]
        documents = result["documents"] or []
        metadatas = result["metadatas"] or []
        embeddings = None
        if with_embeddings:
            raw = result["embeddings"]
            matrix = np.asarray(raw, dtype=np.float32) if raw is not None and len(raw) else \
                np.zeros((0, 0), dtype=np.float32)
            embeddings = matrix[order] if len(order) else matrix[:0]
        return Records([result["ids"][i] for i in order], [documents[i] for i in order],
                       [dict(metadatas[i] or {}) for i in order], embeddings)

    def iter_metadata(self, collection: str,
                      page_size: int = 5000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (id, metadata) for every record, `page_size` at a time."""
        target = self._collection(collection, create=False)
        if target is None:
            return
        offset = 0
        while True:
            page = target.get(include=["metadatas"], limit=page_size, offset=offset)
            ids = page["ids"]
            if not ids:
                return
            for rid, meta in zip(ids, page["metadatas"] or [], strict=True):
                yield rid, dict(meta or {})
            offset += len(ids)

    def query(self, collection: str, embedding: np.ndarray, k: int,
              where: Mapping[str, Any] | None = None) -> list[Hit]:
        """Approximate nearest neighbours (HNSW, cosine); score = 1 - cosine distance."""
        target = self._collection(collection, create=False)
        if target is None or k <= 0:
            return []
        result = target.query(query_embeddings=np.asarray(embedding, dtype=np.float32)[None, :],
                              n_results=k, where=dict(where) if where else None,
                              include=["documents", "metadatas", "distances"])
        hits = []
        for rid, doc, meta, dist in zip(result["ids"][0], result["documents"][0],
                                        result["metadatas"][0], result["distances"][0],
                                        strict=True):
            hits.append(Hit(rid, doc or "", dict(meta or {}), 1.0 - float(dist)))
        return hits

    def count(self, collection: str) -> int:
        """Number of records (0 when the collection does not exist)."""
        target = self._collection(collection, create=False)
        return 0 if target is None else int(target.count())
