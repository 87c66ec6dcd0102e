"""Probability calibration: measuring it (ECE, reliability curves, PNG plot) and fixing it.

* :func:`expected_calibration_error` — ``sum_b (n_b / n) * |mean(p in b) - mean(y in b)|`` over
  bins of predicted probability (equal-width by default, equal-mass with ``"quantile"``).
* :func:`reliability_curve` / :func:`plot_reliability` — the per-bin data and its picture.
* :class:`Calibrator` — a monotone map from raw scores to probabilities fitted on a held-out
  window: ``"isotonic"`` (centred isotonic regression: the pooled-adjacent-violators fit,
  interpolated linearly between block centres so that it stays strictly increasing inside
  the fitted range and keeps the ranking, hence the AUC, of the raw score) or ``"platt"``
  (logistic regression on the logit of the score); ``"auto"`` picks isotonic when the
  calibration window has enough examples of both classes, Platt otherwise.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

BIN_STRATEGIES = ("uniform", "quantile")
CALIBRATION_METHODS = ("auto", "isotonic", "platt", "none")
MIN_ISOTONIC_CLASS_COUNT = 300
"""`auto` uses isotonic regression only when both classes have at least this many examples
in the calibration window; with fewer, the step function overfits and Platt is used."""


def _bin_edges(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        edges[0], edges[-1] = 0.0, 1.0
        return edges if edges.size >= 2 else np.array([0.0, 1.0])
    raise ValueError(f"unknown bin strategy {strategy!r}; choose from {BIN_STRATEGIES}")


def _prepare(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_prob, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values, y_prob {p.size}")
    if y.size == 0:
        raise ValueError("no predictions to assess")
    if ((p < 0.0) | (p > 1.0) | np.isnan(p)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    return y, p


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin calibration data; empty bins are dropped."""

    bin_lower: list[float]
    bin_upper: list[float]
    mean_predicted: list[float]
    fraction_positive: list[float]
    count: list[int]
    strategy: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def reliability_curve(
    y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10, strategy: str = "uniform"
) -> ReliabilityCurve:
    """Mean predicted probability and observed frequency of positives in each probability bin."""
    y, p = _prepare(y_true, y_prob)
    edges = _bin_edges(p, n_bins, strategy)
    # Bin b holds edges[b] <= p < edges[b+1]; the last bin also holds p == 1.
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    lower, upper, mean_p, frac, count = [], [], [], [], []
    for b in range(edges.size - 1):
        mask = idx == b
        n = int(mask.sum())
        if n == 0:
            continue
        lower.append(float(edges[b]))
        upper.append(float(edges[b + 1]))
        mean_p.append(float(p[mask].mean()))
        frac.append(float(y[mask].mean()))
        count.append(n)
    return ReliabilityCurve(lower, upper, mean_p, frac, count, strategy)


def expected_calibration_error(
    y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """ECE: the count-weighted mean gap between predicted and observed rates over bins."""
    curve = reliability_curve(y_true, y_prob, n_bins, strategy)
    n = float(sum(curve.count))
    return float(sum(
        c / n * abs(m - f)
        for c, m, f in zip(curve.count, curve.mean_predicted, curve.fraction_positive,
                           strict=True)
    ))


def plot_reliability(
    curves: Mapping[str, ReliabilityCurve],
    path: Path,
    title: str = "Reliability",
    panels: Mapping[str, Mapping[str, ReliabilityCurve]] | None = None,
) -> Path:
    """Draw reliability diagrams (one panel per entry of `panels`, else one) to a PNG, atomically.

    Marker area grows with the bin's count. Panels whose probabilities all stay below 0.1
    (rare events such as item-level purchases) use log-log axes so the bins near zero stay
    readable; a bin with no positives is drawn at the bottom edge with a hollow marker.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = dict(panels) if panels else {title: curves}
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.8), squeeze=False)
    for ax, (panel_title, panel) in zip(axes[0], groups.items(), strict=True):
        values = [v for c in panel.values() for v in (*c.mean_predicted, *c.fraction_positive)]
        top = max(values, default=0.0)
        positive = [v for v in values if v > 0]
        log_axes = 0 < top < 0.1 and bool(positive)
        floor = min(positive) / 2 if log_axes else 0.0
        top = top * 1.5 if log_axes else min(1.0, max(0.05, top * 1.1))
        for name, curve in panel.items():
            if not curve.count:
                continue
            total = float(sum(curve.count))
            sizes = np.array([12 + 300 * c / total for c in curve.count])
            x = np.asarray(curve.mean_predicted)
            y = np.maximum(np.asarray(curve.fraction_positive), floor)
            (line,) = ax.plot(x, y, marker="", label=name)
            zero = np.asarray(curve.fraction_positive) <= 0
            ax.scatter(x[~zero], y[~zero], s=sizes[~zero], alpha=0.6, color=line.get_color())
            if zero.any():
                ax.scatter(x[zero], y[zero], s=sizes[zero], facecolors="none",
                           edgecolors=line.get_color())
        lo = floor if log_axes else 0.0
        ax.plot([lo, top], [lo, top], linestyle="--", color="grey", linewidth=1, label="perfect")
        if log_axes:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlim(lo, top)
        ax.set_ylim(lo, top)
        ax.set_xlabel("mean predicted probability" + (" (log)" if log_axes else ""))
        ax.set_ylabel("observed frequency" + (" (log)" if log_axes else ""))
        ax.set_title(panel_title, fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path


def _logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


class Calibrator:
    """Monotone map from raw scores in [0, 1] to calibrated probabilities.

    Fit on a window the scorer was not trained on. Outputs are clipped to
    ``[clip, 1 - clip]`` so that a rare positive never receives probability 0.
    """

    def __init__(self, method: str = "auto", clip: float = 1e-4) -> None:
        if method not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration {method!r}; choose from {CALIBRATION_METHODS}")
        self.requested = method
        self.method = method
        self.clip = clip
        self.knots_x: np.ndarray | None = None
        self.knots_y: np.ndarray | None = None
        self.platt: LogisticRegression | None = None
        self.n_fit = 0

    def fit(self, scores: np.ndarray, y_true: np.ndarray) -> Calibrator:
        """Learn the map from held-out raw scores and their 0/1 outcomes."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        y = np.asarray(y_true, dtype=np.float64).ravel()
        if s.size == 0 or s.shape != y.shape:
            raise ValueError("calibration needs matching, non-empty scores and labels")
        self.n_fit = int(s.size)
        n_pos = int(y.sum())
        if self.requested == "auto":
            small = min(n_pos, y.size - n_pos) < MIN_ISOTONIC_CLASS_COUNT
            self.method = "platt" if small else "isotonic"
        if self.method == "isotonic":
            self._fit_centred_isotonic(s, y)
        elif self.method == "platt":
            if y.min() == y.max():
                raise ValueError("Platt scaling needs both classes in the calibration window")
            self.platt = LogisticRegression(C=1e4, max_iter=1000)
            self.platt.fit(_logit(s).reshape(-1, 1), y)
        return self

    def _fit_centred_isotonic(self, s: np.ndarray, y: np.ndarray) -> None:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        fitted = iso.fit_transform(s, y)
        order = np.argsort(s, kind="stable")
        s_sorted, f_sorted = s[order], fitted[order]
        # Blocks = runs of equal fitted value; each becomes one knot at its mean score.
        starts = np.flatnonzero(np.r_[True, np.diff(f_sorted) != 0])
        ends = np.r_[starts[1:], s_sorted.size]
        xs = np.array([s_sorted[a:b].mean() for a, b in zip(starts, ends, strict=True)])
        ys = f_sorted[starts]
        self.knots_x, self.knots_y = xs, ys

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        if self.method == "none":
            out = s
        elif self.method == "isotonic":
            if self.knots_x is None or self.knots_y is None:
                raise RuntimeError("calibrator is not fitted")
            out = np.interp(s, self.knots_x, self.knots_y)
        else:
            if self.platt is None:
                raise RuntimeError("calibrator is not fitted")
            out = self.platt.predict_proba(_logit(s).reshape(-1, 1))[:, 1]
        return np.clip(out, self.clip, 1.0 - self.clip)

    def describe(self) -> dict[str, Any]:
        """Method, size of the fitting window and number of knots (for metadata)."""
        return {
            "method": self.method,
            "requested": self.requested,
            "n_fit": self.n_fit,
            "clip": self.clip,
            "n_knots": None if self.knots_x is None else int(self.knots_x.size),
        }
