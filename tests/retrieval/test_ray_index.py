"""`insight index --engine ray` embeds and stores what the in-process engine does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from core.settings import get_settings
from insight.cli import app
from retrieval.chroma_store import ChromaStore
from retrieval.store import ITEMS
from store.ingest import ingest
from store.sample import SAMPLE_DIR, SAMPLE_FILES
from tests.ray_support import local_ray  # noqa: F401 - the fixture

pytest.importorskip("ray")

GIFT_CARDS = next(f for f in SAMPLE_FILES if f.source == "gift_cards")



def _index(workspace: Path, chroma: Path, monkeypatch: pytest.MonkeyPatch,
           *engine: str) -> dict:
    monkeypatch.setenv("INSIGHT_RETRIEVAL__CHROMA__PATH", str(chroma))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["index", "--workspace", str(workspace),
                                          "--collection", ITEMS, "--no-progress", "--json",
                                          *engine])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("local_ray")
def test_ray_index_matches_in_process(tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = tmp_path / "ws"
    ingest(GIFT_CARDS.kind, SAMPLE_DIR / GIFT_CARDS.relative_path, workspace,
           source="gift_cards")
    local = _index(workspace, tmp_path / "local", monkeypatch)
    remote = _index(workspace, tmp_path / "ray", monkeypatch, "--engine", "ray",
                    "--workers", "2")
    assert remote.keys() == local.keys()
    assert remote["collections"][ITEMS]["embedded"] == local["collections"][ITEMS]["embedded"]
    assert local["collections"][ITEMS]["embedded"] > 100

    stores = [ChromaStore.persistent(tmp_path / name) for name in ("local", "ray")]
    ids = sorted(rid for rid, _ in stores[0].iter_metadata(ITEMS))
    assert sorted(rid for rid, _ in stores[1].iter_metadata(ITEMS)) == ids
    a, b = (s.get(ITEMS, ids, with_embeddings=True) for s in stores)
    assert a.metadatas == b.metadatas
    assert a.embeddings is not None and b.embeddings is not None
    np.testing.assert_allclose(b.embeddings, a.embeddings, atol=1e-4)

    again = _index(workspace, tmp_path / "ray", monkeypatch, "--engine", "ray")
    assert again["embedded"] == 0 and again["unchanged"] == local["embedded"]
