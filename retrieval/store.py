"""The vector-store interface the indexer and the search functions use.

Implementations (Chroma today) are picked by settings in `retrieval.factory`. Embeddings are
always computed by our own `Embedder` and passed in; a store never embeds on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

Metadata = Mapping[str, str | int | float | bool]

REVIEWS = "reviews"
ITEMS = "items"
SUMMARIES = "behavior_summaries"
COLLECTIONS = (REVIEWS, ITEMS, SUMMARIES)


@dataclass
class Records:
    """Stored records, in the order asked for (missing ids are left out)."""

    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    embeddings: np.ndarray | None = None


@dataclass
class Hit:
    """One search result: the stored document, its metadata and its cosine similarity."""

    id: str
    document: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0


@runtime_checkable
class VectorStore(Protocol):
    """Collections of (id, embedding, document, metadata) records."""

    def upsert(self, collection: str, ids: Sequence[str], embeddings: np.ndarray,
               documents: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        """Insert or replace records."""
        ...

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove records by id (unknown ids are ignored)."""
        ...

    def get(self, collection: str, ids: Sequence[str], *,
            with_embeddings: bool = False) -> Records:
        """Fetch records by id."""
        ...

    def iter_metadata(self, collection: str,
                      page_size: int = 5000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (id, metadata) for every record, page by page."""
        ...

    def query(self, collection: str, embedding: np.ndarray, k: int,
              where: Mapping[str, Any] | None = None) -> list[Hit]:
        """Nearest neighbours of one unit-length query vector, best first."""
        ...

    def count(self, collection: str) -> int:
        """Number of records in a collection (0 if it does not exist)."""
        ...
