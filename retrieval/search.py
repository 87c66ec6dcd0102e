"""Retrieval over the indexed collections: per-user reviews, global search, user summaries.

Per-user retrieval avoids Chroma's metadata-filtered queries (30–90× slower than unfiltered
ones at 100k vectors): the user's review ids come from DuckDB, their stored embeddings are
fetched by id, and an exact numpy dot product ranks them. A user has at most a few hundred
reviews, so the exact scan is both faster and better than a filtered ANN query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from retrieval.embedder import Embedder
from retrieval.store import REVIEWS, SUMMARIES, Hit, VectorStore


def user_review_ids(con: duckdb.DuckDBPyConnection, source: str, user_id: str) -> list[str]:
    """Ids of one user's reviews, newest first, from the workspace."""
    rows = con.execute("SELECT review_id FROM reviews WHERE source = ? AND user_id = ? "
                       "ORDER BY ts DESC NULLS LAST, review_id", [source, user_id]).fetchall()
    return [str(r[0]) for r in rows]


def rank_by_embedding(store: VectorStore, collection: str, ids: list[str],
                      query_vector: np.ndarray, k: int) -> list[Hit]:
    """Exact top-k of the records `ids` by cosine similarity to `query_vector`."""
    if not ids or k <= 0:
        return []
    records = store.get(collection, ids, with_embeddings=True)
    if not records.ids or records.embeddings is None or not len(records.embeddings):
        return []
    scores = records.embeddings @ np.asarray(query_vector, dtype=np.float32)
    top = min(k, len(scores))
    best = np.argpartition(-scores, top - 1)[:top]
    best = best[np.lexsort((best, -scores[best]))]
    return [Hit(records.ids[i], records.documents[i], records.metadatas[i], float(scores[i]))
            for i in best]


def search_user_reviews(con: duckdb.DuckDBPyConnection, store: VectorStore, embedder: Embedder,
                        source: str, user_id: str, query: str, k: int = 8) -> list[Hit]:
    """The `k` reviews of one user most similar to `query` (only that user's reviews)."""
    ids = user_review_ids(con, source, user_id)
    if not ids:
        return []
    return rank_by_embedding(store, REVIEWS, ids, embedder.embed([query])[0], k)


def search(store: VectorStore, embedder: Embedder, collection: str, query: str, k: int = 8,
           where: Mapping[str, Any] | None = None) -> list[Hit]:
    """Global semantic search in one collection (optionally filtered, which is slower)."""
    return store.query(collection, embedder.embed([query])[0], k, where)


def user_summary(store: VectorStore, source: str, user_id: str) -> Hit | None:
    """The stored behavior summary of one user, or None if it was not indexed."""
    records = store.get(SUMMARIES, [f"{source}:{user_id}"])
    if not records.ids:
        return None
    return Hit(records.ids[0], records.documents[0], records.metadatas[0], 1.0)


@dataclass
class Retriever:
    """The retrieval functions bound to one workspace connection, store and embedder."""

    con: duckdb.DuckDBPyConnection
    store: VectorStore
    embedder: Embedder

    def user_reviews(self, source: str, user_id: str, query: str, k: int = 8) -> list[Hit]:
        """See `search_user_reviews`."""
        return search_user_reviews(self.con, self.store, self.embedder, source, user_id,
                                   query, k)

    def search(self, collection: str, query: str, k: int = 8,
               where: Mapping[str, Any] | None = None) -> list[Hit]:
        """See `search`."""
        return search(self.store, self.embedder, collection, query, k, where)

    def summary(self, source: str, user_id: str) -> Hit | None:
        """See `user_summary`."""
        return user_summary(self.store, source, user_id)
