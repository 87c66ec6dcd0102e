"""User profiles, segmentation (k by silhouette), segment descriptions."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from predictors.features.user_features import top_values_by_segment, user_profile_features
from predictors.models.segments import SegmentConfig, SegmentModel, describe_segments
from store.ingest import ingest
from store.sample import SAMPLE_DIR, SAMPLE_FILES
from store.workspace import Workspace


@pytest.fixture(scope="module")
def sample_con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    root = tmp_path_factory.mktemp("segments") / "ws"
    for f in SAMPLE_FILES:
        if f.source in {"taobao", "beauty", "rees46"}:
            ingest(f.kind, SAMPLE_DIR / f.relative_path, root, source=f.source, progress=False)
    con = Workspace.open(root).connect()
    yield con
    con.close()


def test_silhouette_recovers_the_number_of_blobs() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    pts = np.vstack([c + rng.normal(0, 0.5, (60, 2)) for c in centres])
    profiles = pd.DataFrame({"user_id": [f"u{i}" for i in range(len(pts))],
                             "share_view": pts[:, 0], "share_cart": pts[:, 1]})
    fit = SegmentModel(SegmentConfig(k_range=(2, 6))).fit(profiles)
    assert fit.k == 3
    assert max(fit.silhouette_by_k, key=fit.silhouette_by_k.get) == 3
    sizes = fit.assignments["segment"].value_counts().sort_index().tolist()
    assert sizes == [60, 60, 60]


def test_segments_on_sample_sizes_sum_and_facts(sample_con: duckdb.DuckDBPyConnection,
                                               tmp_path: Path) -> None:
    profiles = user_profile_features(sample_con, "taobao")
    n_users = sample_con.execute(
        "SELECT count(DISTINCT user_id) FROM events WHERE source = 'taobao'").fetchall()[0][0]
    assert len(profiles) == n_users
    model = SegmentModel(SegmentConfig(k_range=(2, 5), seed=0))
    fit = model.fit(profiles)
    assert 2 <= fit.k <= 5 and not fit.used_embeddings
    scores = pd.DataFrame({"user_id": profiles["user_id"],
                           "p_any_purchase": np.linspace(0, 1, len(profiles))})
    table = describe_segments(sample_con, "taobao", fit.assignments, profiles, scores)
    assert table["n_users"].sum() == n_users
    assert table["share_of_users"].sum() == pytest.approx(1.0)
    assert list(table["segment"]) == list(range(fit.k))
    assert table["n_users"].is_monotonic_decreasing  # segment 0 is the largest
    assert table["mean_intent"].between(0, 1).all() and table["mean_churn"].isna().all()
    for tops in table["top_categories"]:
        assert 1 <= len(tops) <= 5
        assert [t["n_events"] for t in tops] == sorted((t["n_events"] for t in tops),
                                                       reverse=True)
    # Saved and loaded, the model assigns the same segments.
    loaded = SegmentModel.load(model.save(tmp_path / "seg"))
    pd.testing.assert_frame_equal(loaded.predict(profiles), fit.assignments)


def test_embeddings_are_used_when_given(sample_con: duckdb.DuckDBPyConnection) -> None:
    profiles = user_profile_features(sample_con, "taobao")
    rng = np.random.default_rng(1)
    users = profiles["user_id"].tolist()
    emb = {u: rng.normal(size=8) + (5.0 if i % 2 else -5.0) for i, u in enumerate(users[:-10])}
    model = SegmentModel(SegmentConfig(k=2, embedding_weight=5.0))
    fit = model.fit(profiles, emb)
    assert fit.used_embeddings and fit.embedding_coverage == pytest.approx(1 - 10 / len(users))
    # The strongly bimodal embedding dominates: users split by their embedding sign.
    seg = fit.assignments.set_index("user_id")["segment"]
    odd = [u for i, u in enumerate(users[:-10]) if i % 2]
    even = [u for i, u in enumerate(users[:-10]) if not i % 2]
    assert seg[odd].nunique() == 1 and seg[even].nunique() == 1 and seg[odd[0]] != seg[even[0]]
    with pytest.raises(InputError, match="fitted with embeddings"):
        model.predict(profiles)
    with pytest.raises(InputError, match="dimensions"):
        model.predict(profiles, {users[0]: np.zeros(3)})


def test_untimed_source_profiles_and_top_values(sample_con: duckdb.DuckDBPyConnection) -> None:
    profiles = user_profile_features(sample_con, "beauty")
    assert profiles["recency_days"].isna().all() and (profiles["frequency"] > 0).all()
    with pytest.raises(InputError, match="no timestamps"):
        user_profile_features(sample_con, "beauty", cutoff="2014-01-01")
    assign = pd.DataFrame({"user_id": profiles["user_id"], "segment": 0})
    top = top_values_by_segment(sample_con, "beauty", assign, "item", top_n=3)
    assert len(top) == 3 and top["rank"].tolist() == [1, 2, 3]


def test_profile_cutoff_reads_only_the_past(sample_con: duckdb.DuckDBPyConnection) -> None:
    early = user_profile_features(sample_con, "rees46", cutoff="2019-10-01T01:00:00Z")
    full = user_profile_features(sample_con, "rees46")
    assert len(early) < len(full)
    assert early["recency_days"].min() >= 0
    assert (early["monetary"].dropna() > 0).all()  # REES46 has prices


def test_bad_segment_inputs(sample_con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    profiles = user_profile_features(sample_con, "taobao")
    with pytest.raises(InputError, match="impossible"):
        SegmentModel(SegmentConfig(k=10_000)).fit(profiles)
    with pytest.raises(InputError, match="no users"):
        SegmentModel().fit(profiles.iloc[:0])
    with pytest.raises(InputError, match="outside the data range"):
        user_profile_features(sample_con, "taobao", cutoff="2001-01-01")
    with pytest.raises(InputError, match="unknown attribute"):
        top_values_by_segment(sample_con, "taobao", pd.DataFrame(
            {"user_id": ["1"], "segment": [0]}), "colour")
    empty = Workspace.open(tmp_path / "empty", create=True).connect()
    with pytest.raises(InputError, match="workspace has no events"):
        user_profile_features(empty, "taobao")
    empty.close()
