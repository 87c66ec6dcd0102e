"""Incremental indexing: first run embeds everything, a re-run nothing, changes only themselves."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from core.errors import WorkspaceError
from retrieval.chroma_store import ChromaStore
from retrieval.indexer import HASH_KEY, Indexer
from retrieval.lock import index_lock
from retrieval.search import user_summary
from retrieval.store import ITEMS, REVIEWS, SUMMARIES
from retrieval.summaries import summary_documents
from store.workspace import Workspace
from tests.retrieval.conftest import HashEmbedder


def _indexer(tmp_path: Path, embedder: HashEmbedder) -> Indexer:
    return Indexer(ChromaStore.persistent(tmp_path / "chroma"), embedder,
                   tmp_path / ".index.lock", batch_size=1000, progress=False)


def test_whole_sample_indexes_then_reindexes_nothing(sample_workspace: Path,
                                                     tmp_path: Path) -> None:
    con = Workspace.open(sample_workspace).connect()
    expected_reviews = con.execute("SELECT count(*) FROM reviews").fetchone()[0]
    expected_users = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT source, user_id FROM events)").fetchone()[0]
    embedder = HashEmbedder()
    first = _indexer(tmp_path, embedder).run(con)
    assert first.collections[REVIEWS].embedded == expected_reviews == 6417
    assert first.collections[SUMMARIES].embedded == expected_users
    assert first.collections[ITEMS].embedded > 10_000  # beauty + rees46 + gift_cards
    assert first.unchanged == 0 and first.deleted == 0
    assert embedder.embedded == first.embedded
    store = ChromaStore.persistent(tmp_path / "chroma")
    user = con.execute("SELECT min(user_id) FROM events WHERE source = 'taobao'").fetchone()[0]
    summary = user_summary(store, "taobao", user)
    assert summary is not None and summary.document.startswith(f"Customer {user} (source taobao)")
    assert user_summary(store, "taobao", "no-such-user") is None

    embedder.calls.clear()
    again = _indexer(tmp_path, embedder).run(Workspace.open(sample_workspace).connect())
    assert again.embedded == 0 and again.deleted == 0
    assert again.unchanged == first.embedded
    assert embedder.calls == []  # not even an empty batch


def test_changed_review_is_reembedded_alone_and_deleted_one_removed(
        workspace_copy: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    con = workspace_copy
    embedder = HashEmbedder()
    indexer = _indexer(tmp_path, embedder)
    indexer.run(con, sources=["gift_cards"])
    changed, removed = [r[0] for r in con.execute(
        "SELECT review_id FROM reviews WHERE source = 'gift_cards' ORDER BY review_id LIMIT 2")
        .fetchall()]
    con.execute("UPDATE reviews SET text = text || ' Edited later: arrived late.' "
                "WHERE review_id = ?", [changed])
    con.execute("DELETE FROM reviews WHERE review_id = ?", [removed])
    embedder.calls.clear()
    report = indexer.run(con, sources=["gift_cards"])
    assert report.collections[REVIEWS].embedded == 1
    assert report.collections[REVIEWS].deleted == 1
    assert report.collections[ITEMS].embedded == 0
    assert report.collections[SUMMARIES].embedded == 0  # events did not change
    assert embedder.calls == [1]
    stored = indexer.store.get(REVIEWS, [changed, removed])
    assert stored.ids == [changed]
    assert stored.documents[0].endswith("Edited later: arrived late.")


def test_source_scoped_run_leaves_other_sources_alone(
        workspace_copy: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    embedder = HashEmbedder()
    indexer = _indexer(tmp_path, embedder)
    indexer.run(workspace_copy, sources=["gift_cards"], collections=[REVIEWS])
    report = indexer.run(workspace_copy, sources=["musical_instruments"], collections=[REVIEWS])
    assert report.collections[REVIEWS].deleted == 0
    assert indexer.store.count(REVIEWS) == 2972 + 3445


def test_user_scores_enter_the_summary_when_the_view_exists(
        workspace_copy: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    con = workspace_copy
    embedder = HashEmbedder()
    indexer = _indexer(tmp_path, embedder)
    indexer.run(con, sources=["taobao"], collections=[SUMMARIES])
    user = con.execute("SELECT min(user_id) FROM events WHERE source = 'taobao'").fetchone()[0]
    con.execute("CREATE TABLE user_scores AS SELECT 'taobao' AS source, ? AS user_id, "
                "['123', '456'] AS top_items, 0.8125 AS intent, 0.1 AS churn, "
                "'loyal' AS segment", [user])
    embedder.calls.clear()
    report = indexer.run(con, sources=["taobao"], collections=[SUMMARIES])
    assert report.collections[SUMMARIES].embedded == 1
    text = indexer.store.get(SUMMARIES, [f"taobao:{user}"]).documents[0]
    assert "Scores: churn: 0.100; intent: 0.812; segment: loyal; top_items: 123, 456." in text


def test_summaries_are_byte_identical_across_runs(
        workspace_copy: duckdb.DuckDBPyConnection) -> None:
    first = list(summary_documents(workspace_copy))
    second = list(summary_documents(workspace_copy))
    assert [d.text for d in first] == [d.text for d in second]
    by_id = {d.id: d for d in first}
    rees = next(d for d in first if d.id.startswith("rees46:") and d.metadata["n_events"] > 3)
    assert "Funnel stage:" in rees.text and "Recent activity (latest first):" in rees.text
    mi = next(d for d in by_id.values() if d.id.startswith("musical_instruments:"))
    assert "reviewer" in mi.text and "Average rating given:" in mi.text
    assert all(HASH_KEY not in d.metadata for d in first)


def test_second_writer_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / ".index.lock"
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with index_lock(lock):
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(10)
    try:
        with pytest.raises(WorkspaceError, match="another `insight index`"), index_lock(lock):
            pass
    finally:
        release.set()
        holder.join()
    with index_lock(lock):  # free again once the first writer is done
        pass
