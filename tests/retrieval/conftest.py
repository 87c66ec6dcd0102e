"""Fixtures for the retrieval tests: the sample workspace, a cheap embedder, a DuckDB copy."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pytest

from store.sample import ingest_sample

TOKEN = re.compile(r"\w+")


class HashEmbedder:
    """A deterministic bag-of-words embedder (feature hashing): fast and dependency-free.

    It stands in for the real model where a test checks indexing logic, not semantics, and
    counts how many texts it was asked to embed.
    """

    def __init__(self, dimension: int = 64, model_id: str = "test-hash") -> None:
        self.dimension = dimension
        self.model_id = model_id
        self.calls: list[int] = []

    @property
    def embedded(self) -> int:
        return sum(self.calls)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in TOKEN.findall(text.lower()):
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
            out[row, 0] += 1e-3  # never all-zero
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample ingested once per test session (read-only for the tests)."""
    path = tmp_path_factory.mktemp("sample") / "ws"
    ingest_sample(path)
    return path


def copy_workspace(path: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory, writable copy of a workspace's events, items and reviews."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{path / 'insight.duckdb'}' AS ws (READ_ONLY)")
    for table in ("events", "items", "reviews"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM ws.{table}")
    con.execute("DETACH ws")
    return con


@pytest.fixture
def workspace_copy(sample_workspace: Path) -> duckdb.DuckDBPyConnection:
    """A writable copy of the sample's tables, for tests that change data."""
    return copy_workspace(sample_workspace)
