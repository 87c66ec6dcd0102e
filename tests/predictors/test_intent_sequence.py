"""The sequence-aware intent model: point-in-time tokens, shapes, learning, and the harness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import InputError
from predictors.features.intent_sequences import EventHistory, gap_bucket
from predictors.models.intent_sequence import IntentSequenceConfig, IntentSequenceModel
from predictors.training.intent_sequence_trainer import (
    CUTOFF_COLUMN,
    SequenceIntentClassifier,
    SequenceTrainSettings,
)
from predictors.training.intent_trainer import IntentTrainConfig, train_intent
from predictors.training.temporal import MODEL_NAME
from tests.predictors.test_intent import TEST_CUTOFF, sample_con  # noqa: F401 (fixture)

MINUTE = 60_000_000


def _history(rows: list[tuple[str, str, str, int, str | None]]) -> EventHistory:
    """(user, item, event_type, minute, category) rows as an EventHistory."""
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "t", "category"])
    df["t"] = df["t"] * MINUTE
    return EventHistory(df.sort_values(["user_id", "t"], kind="stable").reset_index(drop=True),
                        "toy")


def test_tokens_read_only_events_before_the_cutoff_most_recent_last() -> None:
    h = _history([("u", "a", "view", 0, "c1"), ("u", "b", "view", 10, "c1"),
                  ("u", "a", "cart", 20, "c1"), ("u", "a", "purchase", 30, "c1"),
                  ("v", "x", "view", 5, "c2")])
    tok = h.tokens(["u", "u", "nobody"], np.array([30, 31, 100]) * MINUTE, ["a", "b", "a"],
                   max_len=4)
    cart, purchase, view = (h.type_names.index(n) + 1 for n in ("cart", "purchase", "view"))
    # Row 0: the purchase at minute 30 is at the cut-off, so it is not read.
    assert tok.types[0].tolist() == [0, view, view, cart]
    assert tok.same_item[0].tolist() == [0, 1, 0, 1]
    assert tok.same_category[0].tolist() == [0, 1, 1, 1]
    assert tok.gaps[0, 1:].tolist() == gap_bucket(np.array([30.0, 20.0, 10.0]), 16).tolist()
    # Row 1: one minute later the purchase is read; max_len keeps the 4 most recent events.
    assert tok.types[1].tolist() == [view, view, cart, purchase]
    assert tok.same_item[1].tolist() == [0, 1, 0, 0]
    # An unknown user gets an all-padding row.
    assert not tok.types[2].any()


def test_gap_buckets_are_log_scale_and_capped() -> None:
    assert gap_bucket(np.array([0.0, 0.5, 1.0, 3.0, 7.0, 1e9]), 8).tolist() == [0, 0, 1, 2, 3, 7]


def test_model_maps_token_batches_to_one_logit_per_row() -> None:
    model = IntentSequenceModel(IntentSequenceConfig(n_types=5, max_len=6))
    types = torch.tensor([[0, 0, 1, 2, 3, 1], [0] * 6])  # the second row has no events
    zeros = torch.zeros_like(types)
    out = model(types, zeros, zeros, zeros)
    assert out.shape == (2,) and torch.isfinite(out).all()


def test_classifier_learns_that_a_recent_cart_of_the_item_predicts_buying() -> None:
    rng = np.random.default_rng(0)
    rows, frame_rows, labels = [], [], []
    for u in range(400):
        cutoff = 1000 + (u // 2 % 4) * 60
        carted = u % 2 == 0
        for k in range(6):
            rows.append((f"u{u}", f"i{k}", "view", cutoff - 50 + k, "c"))
        if carted:
            rows.append((f"u{u}", "i0", "cart", cutoff - 2, "c"))
        frame_rows.append((f"u{u}", "i0", cutoff * MINUTE))
        labels.append(int(carted if rng.random() < 0.9 else not carted))
    h = _history(rows)
    X = pd.DataFrame(frame_rows, columns=["user_id", "item_id", CUTOFF_COLUMN])
    y = np.array(labels)
    clf = SequenceIntentClassifier(h, "item", horizon_us=60 * MINUTE,
                                   settings=SequenceTrainSettings(max_epochs=20, batch_size=32,
                                                                  lr=3e-3))
    clf.fit(X, y)
    p = clf.raw_score(X)
    assert p.shape == (400,) and ((p > 0) & (p < 1)).all()
    carted_rows = X.index % 2 == 0
    assert p[carted_rows].mean() > p[~carted_rows].mean() + 0.3
    assert clf.describe()["best_epoch"] >= 1
    with pytest.raises(InputError, match="lack columns"):
        clf.raw_score(X.drop(columns=[CUTOFF_COLUMN]))


def test_harness_tests_the_sequence_model_beside_an_unchanged_hand_model(
        sample_con) -> None:  # noqa: F811 (fixture)
    cfg = IntentTrainConfig(source="taobao", test_cutoff=TEST_CUTOFF, n_train_cutoffs=3,
                            step="12h", n_bootstrap=20, progress=False,
                            model_families=("logistic",))
    plain = train_intent(sample_con, cfg)
    history = EventHistory.load(sample_con, "taobao")
    settings = SequenceTrainSettings(max_epochs=2)
    with_seq = train_intent(sample_con, cfg, extra_scorers=lambda level, h: {
        "sequence": SequenceIntentClassifier(history, level, h, settings)})
    for a, b in ((plain.item, with_seq.item), (plain.user, with_seq.user)):
        assert "candidate_sequence" in b.metrics
        assert b.metrics["candidate_sequence"]["n"] == b.metrics[MODEL_NAME]["n"]
        # The cut-off column the sequence model reads never reaches the hand model.
        np.testing.assert_allclose(a.p_test[MODEL_NAME], b.p_test[MODEL_NAME])
        assert b.best_baseline != "candidate_sequence"
