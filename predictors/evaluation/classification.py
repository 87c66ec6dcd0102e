"""Binary-classification metrics (AUC, PR-AUC, log loss, Brier) as plain dicts, plus bootstrap CIs.

Metrics that are undefined for the input (AUC when only one class is present) come back as
``None`` rather than raising, so a report can still be written and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

PROB_EPS = 1e-7
"""Probabilities are clipped to [eps, 1 - eps] before the log loss (a 0 for a positive is -inf)."""


def _check(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.float64).ravel()
    p = np.asarray(y_prob).astype(np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values, y_prob {p.size}")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if np.isnan(p).any():
        raise ValueError("y_prob contains NaN")
    return y, p


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count one half); None when one class is missing."""
    y, s = _check(y_true, y_score)
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, s))


def pr_auc(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    """Average precision (step-wise area under precision-recall); None without positives."""
    y, s = _check(y_true, y_score)
    if y.size == 0 or y.sum() == 0:
        return None
    return float(average_precision_score(y, s))


def log_loss(y_true: np.ndarray, y_prob: np.ndarray, eps: float = PROB_EPS) -> float | None:
    """Mean negative log-likelihood of 0/1 labels under probabilities clipped to [eps, 1-eps]."""
    y, p = _check(y_true, y_prob)
    if y.size == 0:
        return None
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def brier(y_true: np.ndarray, y_prob: np.ndarray) -> float | None:
    """Mean squared error of probabilities against 0/1 labels."""
    y, p = _check(y_true, y_prob)
    if y.size == 0:
        return None
    return float(brier_score_loss(y, np.clip(p, 0.0, 1.0)))


def binary_metrics(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float | int | None]:
    """AUC, PR-AUC, log loss, Brier, counts and base rate for one scorer on one test set."""
    y, p = _check(y_true, y_prob)
    return {
        "auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "log_loss": log_loss(y, p),
        "brier": brier(y, p),
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "base_rate": float(y.mean()) if y.size else None,
    }


class _FastAUC:
    """AUC under bootstrap row weights in O(n): scores are ranked once, then each resample
    only re-weights the per-score-value positive and negative counts (ties count one half)."""

    def __init__(self, y: np.ndarray, s: np.ndarray) -> None:
        _, self.inv = np.unique(s, return_inverse=True)
        self.n_values = int(self.inv.max()) + 1 if s.size else 0
        self.pos = y == 1.0

    def __call__(self, w: np.ndarray) -> float | None:
        pos_w = np.bincount(self.inv[self.pos], weights=w[self.pos], minlength=self.n_values)
        neg_w = np.bincount(self.inv[~self.pos], weights=w[~self.pos], minlength=self.n_values)
        wp, wn = pos_w.sum(), neg_w.sum()
        if wp == 0 or wn == 0:
            return None
        below = np.cumsum(neg_w) - neg_w
        return float(np.sum(pos_w * (below + 0.5 * neg_w)) / (wp * wn))


def _bootstrap_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)


def _resampled_metrics(
    y: np.ndarray,
    scores: tuple[np.ndarray, ...],
    metric: Callable[[np.ndarray, np.ndarray], float | None],
    n_boot: int,
    seed: int,
) -> Iterator[list[float | None]]:
    """`metric` of each score array on each of `n_boot` resamples of the rows (the same
    resample for every array); the AUC goes through :class:`_FastAUC` row weights."""
    rng = np.random.default_rng(seed)
    fast = [_FastAUC(y, s) for s in scores] if metric is roc_auc else None
    for _ in range(n_boot):
        if fast is not None:
            w = _bootstrap_weights(rng, y.size)
            yield [f(w) for f in fast]
        else:
            idx = rng.integers(0, y.size, y.size)
            yield [metric(y[idx], s[idx]) for s in scores]


def _interval(values: list[float], level: float) -> tuple[float, float]:
    """Percentile interval holding `level` of `values`."""
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def bootstrap_ci(
    y_true: np.ndarray,
    y_score: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float | None] = roc_auc,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of `metric` over resampled rows (None if undefined)."""
    y, s = _check(y_true, y_score)
    if y.size == 0:
        return None
    values = [v for (v,) in _resampled_metrics(y, (s,), metric, n_boot, seed) if v is not None]
    return _interval(values, level) if values else None


def paired_bootstrap_diff(
    y_true: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float | None] = roc_auc,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float | None]:
    """Bootstrap of metric(a) - metric(b) on the same resampled rows: interval and P(diff <= 0)."""
    y, a = _check(y_true, score_a)
    _, b = _check(y_true, score_b)
    undefined: dict[str, float | None] = {"diff": None, "low": None, "high": None,
                                          "p_not_better": None}
    if y.size == 0:
        return undefined
    diffs = [va - vb for va, vb in _resampled_metrics(y, (a, b), metric, n_boot, seed)
             if va is not None and vb is not None]
    full_a, full_b = metric(y, a), metric(y, b)
    if not diffs or full_a is None or full_b is None:
        return undefined
    low, high = _interval(diffs, level)
    return {
        "diff": float(full_a - full_b),
        "low": low,
        "high": high,
        "p_not_better": float(np.mean(np.asarray(diffs) <= 0.0)),
    }
