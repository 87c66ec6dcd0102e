"""The audience backtest on a temporal cut: calibration of the target scores, and precision@K
and lift of the audience against random users, recent viewers of the target and popularity.

For an item, category or brand target the cut-offs come from the temporal harness
(:func:`predictors.training.cutoffs.plan_cutoffs` with one training and one calibration cut):
calibration cut ``C = T - h`` and test cut ``T = last event - h``. A next-item model with the
current checkpoint's architecture is trained on the events before ``C`` only (so neither
window leaks into it; cached per data version); its target mass at ``C``, with the
covariates of :data:`COVARIATES` (intent / churn probabilities where the source has those
models, recent activity, a recent touch of the target), is mapped to P(interacts with the
target within h) by Platt scaling with covariates (a logistic regression; isotonic instead
when there is no covariate and enough of both outcomes, see :class:`Calibrator`) fitted on who
did in ``[C, C + h)``. The audience is then chosen at ``T`` and checked against ``[T, T + h)``.

Goal targets are scored by the intent or churn model, calibrated by its own trainer; their
backtest uses that model's test cut-off, whose windows its training never saw.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from predictors.evaluation.calibration import Calibrator, expected_calibration_error
from predictors.evaluation.classification import roc_auc
from predictors.evaluation.splits import leave_one_out_split
from predictors.models import SASRec, SASRecConfig
from predictors.next_item import NextItemModel, _encode_all, quick_options
from predictors.training.sequence_trainer import fit

log = logging.getLogger(__name__)

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


COVARIATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "intent": _logit,  # the intent model's P(any purchase within its horizon)
    "churn": _logit,  # the churn model's P(no activity within its horizon)
    "activity": np.log1p,  # the user's events in the last horizon before the cut
    "recent_touch": np.asarray,  # 1 when the user touched the target in that horizon
}
"""Signals that may join the next-item mass in the calibration, with their transforms."""


@dataclass
class Calibration:
    """How raw target scores become probabilities: method, fitting window and features."""

    method: str
    cutoff: str | None = None
    n: int = 0
    positives: int = 0
    features: list[str] = field(default_factory=lambda: ["mass"])
    note: str = ""
    calibrator: Calibrator | None = field(default=None, repr=False)
    logistic: LogisticRegression | None = field(default=None, repr=False)
    fill: dict[str, float] = field(default_factory=dict, repr=False)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities for the rows of `frame` (columns ``mass`` + covariates)."""
        if self.calibrator is not None:
            return self.calibrator.transform(frame["mass"].to_numpy())
        if self.logistic is not None:
            return self.logistic.predict_proba(self._design(frame))[:, 1]
        return frame["mass"].to_numpy(dtype=np.float64)

    def _design(self, frame: pd.DataFrame) -> np.ndarray:
        cols = [COVARIATES.get(f, _logit)(frame[f].fillna(self.fill.get(f, 0.5))
                                          .to_numpy(dtype=np.float64)) for f in self.features]
        return np.column_stack(cols)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description."""
        return {"method": self.method, "fitted_at": self.cutoff, "rows": self.n,
                "positives": self.positives, "features": self.features, "note": self.note}


def fit_calibration(frame: pd.DataFrame, y: np.ndarray, cutoff: str,
                    features: list[str]) -> Calibration:
    """Fit the target calibration on one window's scores `frame` and 0/1 outcomes `y`.

    Only the next-item mass: :class:`Calibrator` ``auto`` (isotonic with enough of both
    outcomes, else Platt). With covariates (:data:`COVARIATES`; those constant in the window
    are dropped): Platt scaling with covariates, a logistic regression on the logit of the
    mass and the transformed covariates (missing values take the window's median). Without
    both outcomes in the window the raw mass is used and the note says so.
    """
    features = ["mass"] + [f for f in features if f != "mass" and f in frame
                           and frame[f].nunique(dropna=True) > 1]
    n, pos = int(y.size), int(y.sum())
    if n == 0 or pos == 0 or pos == n:
        return Calibration("none", cutoff, n, pos, ["mass"],
                           note=f"{pos} of {n} users converted in the calibration window; "
                                "probabilities are the raw next-item mass (uncalibrated)")
    if features == ["mass"]:
        cal = Calibrator("auto").fit(frame["mass"].to_numpy(), y)
        return Calibration(cal.method, cutoff, n, pos, ["mass"], calibrator=cal)
    fill = {f: float(frame[f].median()) if frame[f].notna().any() else 0.5 for f in features}
    out = Calibration("platt+covariates", cutoff, n, pos, list(features), fill=fill)
    out.logistic = LogisticRegression(C=1.0, max_iter=1000).fit(out._design(frame), y)
    return out


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest scores (ties: earlier rows first)."""
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    return order[:k]


@dataclass
class Baseline:
    """A rival ranking of the same users: higher key = chosen earlier."""

    name: str
    description: str
    key: np.ndarray


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


@dataclass
class Backtest:
    """Precision@K and lifts of the audience at a past cut-off."""

    cutoff: str
    horizon: str
    outcome: str
    k: int
    eligible_users: int
    positives: int
    base_rate: float
    hits: int
    precision_at_k: float
    lift: float | None
    expected_conversions: float
    auc: float | None
    ece: float | None
    baselines: dict[str, dict[str, Any]]
    model: str
    calibration_cutoff: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``lift`` is over random users; ``lift_vs_<baseline>`` beside it."""
        out: dict[str, Any] = {
            "cutoff": self.cutoff, "horizon": self.horizon, "outcome": self.outcome,
            "k": self.k, "precision_at_k": self.precision_at_k, "hits": self.hits,
            "lift": self.lift}
        for name, b in self.baselines.items():
            out[f"lift_vs_{name}"] = b["lift"]
            out[f"precision_{name}"] = b["precision_at_k"]
        out.update({
            "base_rate": self.base_rate, "eligible_users": self.eligible_users,
            "positives": self.positives, "expected_conversions": self.expected_conversions,
            "auc": self.auc, "ece": self.ece, "baselines": self.baselines, "model": self.model,
            "calibration_cutoff": self.calibration_cutoff, "note": self.note})
        return out


def evaluate_ranking(p: np.ndarray, y: np.ndarray, k: int, baselines: list[Baseline],
                     *, cutoff: str, horizon: str, outcome: str, model: str,
                     calibration_cutoff: str | None = None) -> Backtest:
    """Precision@K of the top-`k` users by `p` against outcomes `y`, its lift over the base
    rate (random users) and over each baseline's top `k`; AUC and ECE of `p`."""
    n = int(y.size)
    k = max(0, min(int(k), n))
    pos = int(y.sum())
    base = pos / n if n else 0.0
    chosen = top_k(p, k)
    hits = int(y[chosen].sum()) if k else 0
    prec = hits / k if k else 0.0
    rivals: dict[str, dict[str, Any]] = {}
    for b in baselines:
        b_hits = int(y[top_k(b.key, k)].sum()) if k else 0
        b_prec = b_hits / k if k else 0.0
        rivals[b.name] = {"description": b.description, "precision_at_k": b_prec,
                          "hits": b_hits, "lift": _ratio(prec, b_prec)}
    notes = []
    if pos == 0:
        notes.append("no user converted in the test window: lifts are undefined")
    elif k and k < 20:
        notes.append(f"only {k} users in the audience: precision is noisy")
    ece = expected_calibration_error(y, np.clip(p, 0, 1)) if n else None
    return Backtest(
        cutoff=cutoff, horizon=horizon, outcome=outcome, k=k, eligible_users=n,
        positives=pos, base_rate=base, hits=hits, precision_at_k=prec,
        lift=_ratio(prec, base), expected_conversions=float(np.sum(p[chosen])) if k else 0.0,
        auc=roc_auc(y, p) if n else None, ece=ece, baselines=rivals, model=model,
        calibration_cutoff=calibration_cutoff, note="; ".join(notes))


_CACHE: OrderedDict[tuple[Any, ...], NextItemModel] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def prefix_model(template: NextItemModel, sequences: Any, cache_key: tuple[Any, ...],
                 epochs: int = 8, seed: int = 0) -> NextItemModel:
    """A next-item model with `template`'s architecture trained on `sequences` (the histories
    before the calibration cut), quick settings; cached under `cache_key` (data version and
    cut) so repeated audiences on the same data train it once."""
    key = (*cache_key, template.version, epochs, seed)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    vocab, encoded, types = _encode_all(sequences, template.use_types)
    split = leave_one_out_split(encoded, types)
    config = dict(template.meta.get("model_config") or {})
    config.update(n_items=len(vocab), max_len=template.max_len)
    model = SASRec(SASRecConfig(**config))
    options = quick_options(max_epochs=epochs, seed=seed, progress=False,
                            max_len=template.max_len)
    has_valid = len(split.valid) > 0
    log.info("audience backtest: training a next-item model on %d users before the cut",
             len(encoded))
    train_config = options.train_config(len(vocab), split.train)  # the repeat rule too
    fit(model, split.train, split.valid.inputs if has_valid else None,
        split.valid.targets if has_valid else None, train_config,
        train_types=split.train_types, valid_types=split.valid.type_inputs if has_valid else None)
    trained = NextItemModel(model=model, items=vocab, use_types=template.use_types,
                            max_len=template.max_len,
                            meta={"version": "backtest-prefix",
                                  "mask_seen": train_config.filter_history})
    with _CACHE_LOCK:
        _CACHE[key] = trained
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return trained


def labels_for(frame: pd.DataFrame, positives: set[str]) -> np.ndarray:
    """0/1 outcome per row of `frame` (indexed by user id)."""
    return np.fromiter((u in positives for u in frame.index), dtype=np.int64, count=len(frame))
