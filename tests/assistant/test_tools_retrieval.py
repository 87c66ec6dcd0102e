"""The prose tools with a real Chroma review index (cheap hashing embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from assistant.tools.evidence import select_reviews
from assistant.tools.explain import explain
from assistant.tools.summary import user_summary
from retrieval.chroma_store import ChromaStore
from retrieval.indexer import Indexer
from retrieval.search import Retriever
from retrieval.store import REVIEWS
from tests.assistant.toolkit import FakeBackend, sample_con, sample_ws, scripted_server
from tests.retrieval.conftest import HashEmbedder

__all__ = ["sample_con", "sample_ws"]

USER = "ADH0O8UVJOT10"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sample_ws: Path) -> ChromaStore:
    """A persistent Chroma store with the musical_instruments reviews of the sample."""
    from store.workspace import Workspace

    root = tmp_path_factory.mktemp("chroma")
    chroma = ChromaStore.persistent(root / "chroma")
    con = Workspace.open(sample_ws).connect()
    Indexer(chroma, HashEmbedder(), root / "lock", progress=False).run(
        con, sources=["musical_instruments"], collections=[REVIEWS])
    con.close()
    return chroma


def test_reviews_chosen_by_similarity(store: ChromaStore,
                                      sample_con: duckdb.DuckDBPyConnection) -> None:
    from assistant.facts import user_facts

    retriever = Retriever(con=sample_con, store=store, embedder=HashEmbedder())
    reviews = user_facts(sample_con, USER, n_reviews=200).reviews
    chosen, how = select_reviews(sample_con, reviews, 3, retriever, "compressor pedal tone",
                                 "musical_instruments", USER)
    assert how == "retrieval" and len(chosen) == 3
    assert {r.review_id for r in chosen} <= {r.review_id for r in reviews}  # only this user's
    assert any("ompressor" in (r.text or "") + (r.summary or "") for r in chosen)


def test_tools_use_the_index(store: ChromaStore, sample_con: duckdb.DuckDBPyConnection) -> None:
    retriever = Retriever(con=sample_con, store=store, embedder=HashEmbedder())
    reply = json.dumps({"claims": [
        {"evidence": ["F:reviews_written"], "kind": "fact", "text": "A keen pedal reviewer."},
        {"evidence": ["F:first_activity"], "kind": "fact", "text": "Active since 2012."}]})
    with scripted_server(lambda request: reply) as server:
        backend = FakeBackend(server.url)
        summary = user_summary(USER, con=sample_con, backend=backend, retriever=retriever)
        item = summary.reviews[0]["item_id"]
        why = explain(USER, item, con=sample_con, backend=backend, retriever=retriever)
    assert summary.review_selection == "retrieval" and summary.status == "ok"
    assert "retrieval" in why.run.steps[0].detail or not why.reviews
