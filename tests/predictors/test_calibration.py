"""Calibration and classification metrics against hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from predictors.evaluation.calibration import (
    Calibrator,
    expected_calibration_error,
    plot_reliability,
    reliability_curve,
)
from predictors.evaluation.classification import (
    binary_metrics,
    bootstrap_ci,
    log_loss,
    paired_bootstrap_diff,
    pr_auc,
    roc_auc,
)


def test_ece_is_zero_for_perfectly_calibrated_bins() -> None:
    # Bin [0.2, 0.3): five predictions of 0.2, one positive; bin [0.8, 0.9): 0.8 with 4/5.
    p = np.array([0.2] * 5 + [0.8] * 5)
    y = np.array([1, 0, 0, 0, 0] + [1, 1, 1, 1, 0])
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.0, abs=1e-12)


def test_ece_hand_computed() -> None:
    # Bin 1: p=0.1 (x2), y=(1,1) -> gap 0.9; bin 2: p=0.9 (x2), y=(1,0) -> gap 0.4.
    p = np.array([0.1, 0.1, 0.9, 0.9])
    y = np.array([1, 1, 1, 0])
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.5 * 0.9 + 0.5 * 0.4)


def test_reliability_curve_bins_and_edges() -> None:
    p = np.array([0.0, 0.05, 0.55, 1.0])
    y = np.array([0, 0, 1, 1])
    curve = reliability_curve(y, p, n_bins=2)
    assert curve.count == [2, 2]  # p == 1.0 falls in the last bin
    assert curve.mean_predicted == pytest.approx([0.025, 0.775])
    assert curve.fraction_positive == pytest.approx([0.0, 1.0])
    q = reliability_curve(y, p, n_bins=2, strategy="quantile")
    assert sum(q.count) == 4


def test_calibration_inputs_are_checked() -> None:
    with pytest.raises(ValueError):
        expected_calibration_error(np.array([0, 1]), np.array([0.5, 1.5]))
    with pytest.raises(ValueError):
        expected_calibration_error(np.array([0, 2]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError):
        reliability_curve(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        reliability_curve(np.array([0, 1]), np.array([0.1, 0.2]), strategy="nope")


def test_auc_pr_auc_log_loss_hand_computed() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    # Pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3/4.
    assert roc_auc(y, s) == pytest.approx(0.75)
    # Ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): AP = (1/1 + 2/3) / 2.
    assert pr_auc(y, s) == pytest.approx((1 + 2 / 3) / 2)
    expected = -np.mean([math.log(0.9), math.log(0.6), math.log(0.35), math.log(0.8)])
    assert log_loss(y, s) == pytest.approx(expected)
    # Ties count one half.
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_metrics_with_one_class_are_none_not_errors() -> None:
    m = binary_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    assert m["auc"] is None and m["pr_auc"] is None
    assert m["n_positive"] == 0 and m["log_loss"] is not None


def test_log_loss_clips_zero_probability_for_positive() -> None:
    assert math.isfinite(log_loss(np.array([1]), np.array([0.0])))


def test_bootstrap_intervals_contain_point_estimate() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(int)
    s = rng.random(400) + 0.5 * y
    auc = roc_auc(y, s)
    lo, hi = bootstrap_ci(y, s, roc_auc, n_boot=200, seed=1)
    assert lo < auc < hi
    diff = paired_bootstrap_diff(y, s, rng.random(400), roc_auc, n_boot=200, seed=1)
    assert diff["low"] > 0 and diff["p_not_better"] == 0.0
    same = paired_bootstrap_diff(y, s, s, roc_auc, n_boot=50)
    assert same["diff"] == 0.0 and same["p_not_better"] == 1.0


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrator_fixes_overconfident_scores_and_keeps_order(method: str) -> None:
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.0, 0.3, 20000)
    y = (rng.random(true_p.size) < true_p).astype(int)
    raw = np.clip(true_p * 3.0, 0, 1)  # three times too confident
    cal = Calibrator(method).fit(raw[:10000], y[:10000])
    p = cal.transform(raw[10000:])
    before = expected_calibration_error(y[10000:], raw[10000:])
    after = expected_calibration_error(y[10000:], p)
    assert after < 0.25 * before and after < 0.03
    order = np.argsort(raw[10000:])
    assert np.all(np.diff(p[order]) >= -1e-12)  # monotone
    assert p.min() >= cal.clip and p.max() <= 1 - cal.clip


def test_centred_isotonic_is_strictly_increasing_inside_range() -> None:
    scores = np.linspace(0, 1, 200)
    y = (scores > 0.5).astype(int)
    y[::7] = 1 - y[::7]
    cal = Calibrator("isotonic").fit(scores, y)
    inside = np.linspace(cal.knots_x[0], cal.knots_x[-1], 50)[1:-1]
    assert np.all(np.diff(cal.transform(inside)) > 0)


def test_unknown_calibration_method_rejected() -> None:
    with pytest.raises(ValueError):
        Calibrator("magic")


def test_plot_reliability_writes_png(tmp_path: Path) -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.8, 0.3, 0.6, 0.9, 0.2])
    out = plot_reliability({"m": reliability_curve(y, p, 3)}, tmp_path / "r.png",
                           panels={"a": {"m": reliability_curve(y, p, 3)},
                                   "b": {"m": reliability_curve(y, p, 2)}})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp.png")]
