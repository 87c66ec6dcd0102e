"""Purchase-intent features, training, persistence and scoring."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from predictors.features import intent_features as F
from predictors.features import query_df, to_epoch_us
from predictors.features.labels import attach_labels
from predictors.models.intent import IntentModel
from predictors.scoring import score_intent
from predictors.training.intent_trainer import (
    IntentTrainConfig,
    IntentTrainResult,
    train_intent,
)
from predictors.training.temporal import MODEL_NAME
from store.ingest import ingest
from store.sample import SAMPLE_DIR, SAMPLE_FILES
from store.workspace import Workspace

TEST_CUTOFF = "2017-12-03T00:00:00+08:00"


def _ingest(root: Path, sources: set[str]) -> Path:
    for f in SAMPLE_FILES:
        if f.source in sources:
            ingest(f.kind, SAMPLE_DIR / f.relative_path, root, source=f.source, progress=False)
    return root


@pytest.fixture(scope="module")
def sample_con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    root = _ingest(tmp_path_factory.mktemp("intent") / "ws", {"taobao", "rees46", "beauty",
                                                               "musical_instruments"})
    con = Workspace.open(root).connect()
    yield con
    con.close()


@pytest.fixture(scope="module")
def trained(sample_con: duckdb.DuckDBPyConnection) -> IntentTrainResult:
    cfg = IntentTrainConfig(source="taobao", test_cutoff=TEST_CUTOFF, n_train_cutoffs=3,
                            step="12h", n_bootstrap=50, progress=False,
                            model_families=("logistic", "gbm"))
    return train_intent(sample_con, cfg)


def _toy_events(rows: list[tuple[str, str, str, str]]) -> duckdb.DuckDBPyConnection:
    """In-memory `events` table: (user, item, event_type, ISO time), source 'toy'."""
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "ts"])
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df["source"] = "toy"
    df["ordinal"] = np.arange(len(df), dtype=np.int64)
    df["session_id"] = None
    df["price"] = np.nan
    df["rating"] = np.nan
    df["category"] = "c1"
    df["brand"] = None
    con = duckdb.connect()
    con.register("_toy", df)
    con.execute("CREATE TABLE events AS SELECT source, user_id, item_id, event_type, ts, ordinal, "
                "CAST(session_id AS VARCHAR) AS session_id, price, CAST(rating AS REAL) AS rating, "
                "category, CAST(brand AS VARCHAR) AS brand FROM _toy")
    return con


def test_item_features_hand_computed() -> None:
    con = _toy_events([
        ("u1", "A", "view", "2020-01-01T10:00:00"),
        ("u1", "A", "view", "2020-01-01T10:05:00"),
        ("u1", "A", "cart", "2020-01-01T10:06:00"),
        ("u1", "B", "view", "2020-01-01T11:00:00"),
        ("u1", "B", "purchase", "2020-01-01T11:01:00"),
        ("u2", "A", "view", "2020-01-01T09:00:00"),
        ("u1", "A", "purchase", "2020-01-01T13:00:00"),  # after the cut-off: the label
    ])
    cfg = F.IntentFeatureConfig(lookback=None, recent_long="1D", recent_short="1h")
    X = F.item_features(con, "toy", "2020-01-01T12:00:00Z", cfg)
    rows = {(r.user_id, r.item_id): r for r in X.itertuples()}
    assert set(rows) == {("u1", "A"), ("u2", "A")}  # B was bought before the cut-off
    a = rows[("u1", "A")]
    assert (a.ui_n_view, a.ui_n_cart, a.open_cart, a.ui_stage) == (2, 1, 1, 3)
    assert a.ui_hours_since_cart == pytest.approx(2 - 6 / 60)
    assert a.ui_n_sessions == 1 and a.u_n_sessions == 2  # 10:06 -> 11:00 is a 54-min gap
    assert (a.uc_events_after, a.uc_purchases_after) == (2, 1)  # then viewed and bought B
    assert a.i_n_users == 2 and a.u_n_purchase == 1
    y = attach_labels(X, F.item_labels(con, "toy", "2020-01-01T12:00:00Z", "1D"), F.ITEM_KEYS)
    pairs = list(zip(X.user_id, X.item_id, strict=True))
    assert dict(zip(pairs, y, strict=True)) == {("u1", "A"): 1, ("u2", "A"): 0}
    U = F.user_features(con, "toy", "2020-01-01T12:00:00Z", cfg)
    assert list(U.user_id) == ["u1", "u2"]
    assert U.set_index("user_id").loc["u1", "n_open_carts"] == 1
    # The label window is half-open: a purchase exactly at cut-off + horizon does not count.
    assert F.user_labels(con, "toy", "2020-01-01T12:00:00Z", "1h").empty
    assert list(F.user_labels(con, "toy", "2020-01-01T12:00:00Z", "1h 0min 1s").user_id) == ["u1"]


def test_sessions_split_on_gaps_without_session_ids() -> None:
    con = _toy_events([
        ("u1", "A", "view", "2020-01-01T10:00:00"),
        ("u1", "B", "view", "2020-01-01T10:20:00"),
        ("u1", "C", "view", "2020-01-01T11:30:00"),
    ])
    cfg = F.IntentFeatureConfig(lookback=None, session_gap="30min")
    U = F.user_features(con, "toy", "2020-01-02", cfg)
    assert U.loc[0, "u_n_sessions"] == 2
    X = F.item_features(con, "toy", "2020-01-02", cfg).set_index("item_id")
    assert X.loc["C", "ui_in_last_session"] == 1 and X.loc["A", "ui_in_last_session"] == 0


def test_features_never_see_events_at_or_after_the_cutoff(
    sample_con: duckdb.DuckDBPyConnection,
) -> None:
    cutoff = to_epoch_us("2017-12-01T00:00:00+08:00")
    base = query_df(sample_con, "SELECT * FROM events WHERE source = 'taobao'", {})
    cfg = F.IntentFeatureConfig.for_horizon("1D")

    def features(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        mem = duckdb.connect()
        mem.register("_e", events)
        mem.execute("CREATE TABLE events AS SELECT * FROM _e")
        return (F.item_features(mem, "taobao", cutoff, cfg),
                F.user_features(mem, "taobao", cutoff, cfg),
                F.item_labels(mem, "taobao", cutoff, "1D"))

    before_items, before_users, before_labels = features(base)
    changed = base.copy()
    after = changed["ts"].map(lambda t: t.value // 1000 >= cutoff).to_numpy()
    assert after.sum() > 100
    rng = np.random.default_rng(0)
    changed.loc[after, "event_type"] = rng.choice(["purchase", "cart", "view"], after.sum())
    changed.loc[after, "item_id"] = rng.choice(base["item_id"].to_numpy(), after.sum())
    extra = changed[after].head(50).assign(user_id="new-user")
    changed = pd.concat([changed, extra], ignore_index=True)
    after_items, after_users, after_labels = features(changed)
    pd.testing.assert_frame_equal(before_items, after_items)
    pd.testing.assert_frame_equal(before_users, after_users)
    # The labels, which do read the window after the cut-off, change: the check can fail.
    assert not before_labels.equals(after_labels)


def test_train_on_sample_reports_model_and_baselines(trained: IntentTrainResult) -> None:
    for level in (trained.item, trained.user):
        names = set(level.metrics)
        assert {MODEL_NAME, f"{MODEL_NAME}_uncalibrated", "logreg_recency_frequency"} <= names
        for m in level.metrics.values():
            assert 0.0 <= m["auc"] <= 1.0 and 0.0 <= m["ece"] <= 1.0 and m["log_loss"] > 0
            assert m["n"] == level.sizes["test"]["rows"]
        assert level.selection["family"] in ("logistic", "gbm")
        assert level.best_baseline in level.comparisons
        assert len(level.p_test[MODEL_NAME]) == level.y_test.size
    plan = trained.plan
    assert plan.train[-1] + plan.horizon_us <= plan.calibration[0]
    assert plan.calibration[-1] + plan.horizon_us <= plan.test
    report = trained.to_dict()
    assert report["cutoffs"]["test"].startswith("2017-12-02T16:00:00")


def test_save_load_roundtrip_and_scoring(
    trained: IntentTrainResult, sample_con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    model = trained.model
    path = model.save(tmp_path / "intent_model")
    assert (path / "metadata.json").exists() and (path / "model.joblib").exists()
    loaded = IntentModel.load(path)
    X = F.item_features(sample_con, "taobao", TEST_CUTOFF, model.feature_config)
    np.testing.assert_allclose(loaded.predict_item_proba(X), model.predict_item_proba(X))

    one = score_intent(sample_con, loaded, as_of=TEST_CUTOFF, top_k=3)
    many = score_intent(sample_con, loaded, as_of=TEST_CUTOFF, top_k=3, batch_users=70)
    pd.testing.assert_frame_equal(one, many)
    users = F.user_features(sample_con, "taobao", TEST_CUTOFF, model.feature_config)
    assert sorted(one.user_id) == sorted(users.user_id)
    assert one["p_any_purchase"].between(0, 1).all()
    for items in one["top_items"]:
        ps = [i["p"] for i in items]
        assert len(items) <= 3 and ps == sorted(ps, reverse=True)


def test_bad_inputs_raise_input_error(
    sample_con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="outside the data range"):
        train_intent(sample_con, IntentTrainConfig(test_cutoff="2030-01-01", progress=False))
    with pytest.raises(InputError, match="outside the data range"):
        train_intent(sample_con, IntentTrainConfig(test_cutoff=TEST_CUTOFF, n_train_cutoffs=500,
                                                   progress=False))
    with pytest.raises(InputError, match="no events; known sources"):
        train_intent(sample_con, IntentTrainConfig(source="nope", progress=False))
    with pytest.raises(InputError, match="no purchase events"):
        train_intent(sample_con, IntentTrainConfig(source="musical_instruments", progress=False))
    with pytest.raises(InputError, match="no timestamps"):
        train_intent(sample_con, IntentTrainConfig(source="beauty", progress=False))
    with pytest.raises(InputError, match="cannot read"):
        train_intent(sample_con, IntentTrainConfig(test_cutoff="yesterday-ish", progress=False))
    with pytest.raises(InputError, match="model families"):
        train_intent(sample_con, IntentTrainConfig(model_families=("forest",), progress=False))
    empty = Workspace.open(tmp_path / "empty", create=True).connect()
    with pytest.raises(InputError, match="workspace has no events"):
        train_intent(empty, IntentTrainConfig(progress=False))
    empty.close()
    with pytest.raises(InputError, match="not a saved model"):
        IntentModel.load(tmp_path)


def test_rees46_funnel_features_use_prices_brands_and_sessions(
    sample_con: duckdb.DuckDBPyConnection,
) -> None:
    cfg = F.IntentFeatureConfig(lookback="1h", recent_long="30min", recent_short="5min")
    X = F.item_features(sample_con, "rees46", "2019-10-01T02:00:00Z", cfg)
    assert len(X) > 100
    for col in ("price", "price_rel_category", "b_view_conv", "c_cart_conv"):
        assert X[col].notna().mean() > 0.5, col
    assert (X["ui_n_sessions"] >= 1).all()


class _ConstantAucClassifier:
    """Stand-in classifier whose validation scores give a chosen AUC per fold (unit isolation)."""

    def __init__(self, features: list[str], quality: float) -> None:
        self.features, self.quality = features, quality

    def fit(self, X: pd.DataFrame, y: np.ndarray, weight: np.ndarray | None = None):
        return self

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        # Label column leaks in on purpose: `quality` of the rows get the right order.
        y = X["label"].to_numpy(dtype=float)
        rng = np.random.default_rng(0)
        noisy = rng.random(y.size) > self.quality
        return np.where(noisy, rng.random(y.size), y)


def test_one_standard_error_rule_prefers_the_smaller_close_family() -> None:
    from predictors.training.temporal import LevelData, select_family

    rng = np.random.default_rng(1)
    cutoffs = np.repeat(np.array([0, 10, 20, 30]), 200)
    y = rng.integers(0, 2, cutoffs.size)
    data = LevelData(pd.DataFrame({"label": y}), y, cutoffs)
    specs = {"big": (["a"] * 40, 0.80), "small": (["a"] * 5, 0.78), "poor": (["a"] * 2, 0.2)}

    def make(family: str) -> _ConstantAucClassifier:
        features, quality = specs[family]
        return _ConstantAucClassifier(features, quality)

    chosen, info = select_family(("big", "small", "poor"), make, data, data.select(
        cutoffs == 30), [30, 20], horizon_us=10)
    means = info["mean_validation_auc"]
    assert means["big"] > means["small"] > info["one_se_threshold"] > means["poor"]
    assert chosen == "small"  # within one SE of the best, and 5 features instead of 40
    specs["small"] = (["a"] * 5, 0.3)  # now clearly worse: the best family wins
    assert select_family(("big", "small"), make, data, data.select(cutoffs == 30), [30, 20],
                         horizon_us=10)[0] == "big"


def test_habit_family_is_user_level_only() -> None:
    from predictors.training.intent_trainer import (
        HABIT_FEATURES,
        family_features,
        level_families,
    )

    families = ("logistic", "gbm", "logistic_habit")
    assert level_families(families, "item") == ("logistic", "gbm")
    assert level_families(families, "user") == families
    assert level_families(("logistic_habit",), "item") == ("logistic",)
    cols = ["u_n_events", "u_hours_since_last", *HABIT_FEATURES, "n_open_carts"]
    assert family_features("logistic_habit", cols) == [
        "u_n_events", "u_hours_since_last", *HABIT_FEATURES]
    assert family_features("logistic", cols) == cols


def test_names_older_checkpoints_unpickle_from_stay_importable() -> None:
    # Checkpoints saved before the generic classifier code left `models/intent.py` pickled
    # these two names under that module; unpickling them needs the names there.
    from predictors.models import classifier
    from predictors.models import intent as legacy

    assert legacy.CalibratedClassifier is classifier.CalibratedClassifier
    assert legacy._signed_log1p is classifier._signed_log1p
