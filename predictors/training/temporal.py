"""The temporal-split harness shared by the intent and churn trainers.

A trainer builds :class:`LevelData` (features + labels stacked over the cut-offs of a
:class:`~predictors.training.cutoffs.CutoffPlan`) for the train, calibration and test stages,
then, per level (item, user), :func:`fit_select_evaluate`:

1. **Model selection** (when several model families are configured): rolling-origin
   validation on cut-offs *before* the test — the first calibration cut-off and earlier
   training cut-offs spaced one horizon apart, each scored by a fit on the training cut-offs
   whose label windows end before it. The one-standard-error rule picks the family: the one
   with the fewest features whose mean AUC is within one standard error of the best mean
   (a few noisy folds cannot tell close families apart; the simpler one generalises more
   safely). The test cut-off plays no part (:func:`select_family`).
2. **Fit** the chosen family on all training cut-offs, **calibrate** on the calibration
   cut-offs, **test** once (:func:`evaluate_scorers`).

The hand baselines go through the same fit → calibrate → test path on the same rows, so the
comparison is like for like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from core.errors import InputError
from predictors.evaluation.calibration import (
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
)
from predictors.evaluation.classification import (
    binary_metrics,
    bootstrap_ci,
    paired_bootstrap_diff,
    roc_auc,
)
from predictors.features import (
    DurationLike,
    SourceSpan,
    TimeLike,
    feature_columns,
    iso,
    source_span,
)
from predictors.models.classifier import (
    CalibratedClassifier,
    GBMParams,
    check_model_families,
    classifier_factory,
)
from predictors.training.cutoffs import CutoffPlan, plan_cutoffs, selection_cutoffs

log = logging.getLogger(__name__)

MODEL_NAME = "model"
"""The scorer name of the selected model in every evaluation (the others are baselines)."""

HEADLINE_METRICS: tuple[str, ...] = ("auc", "pr_auc", "log_loss", "ece")
"""Test metrics of the model recorded in its metadata."""


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass
class TemporalTrainConfig:
    """Settings every temporal-split trainer shares: source, horizon, cut-off schedule, model
    families and their selection, calibration, evaluation and threads.

    Subclasses set their own defaults and add their own settings (:meth:`extra_settings`).
    """

    source: str = ""
    horizon: DurationLike = "1D"
    test_cutoff: TimeLike | None = None
    n_train_cutoffs: int = 5
    n_calibration_cutoffs: int = 1
    step: DurationLike | None = None
    calibration: str = "auto"
    model_families: tuple[str, ...] = ("logistic", "gbm")
    selection_folds: int = 3
    logistic_c: float = 0.1
    gbm: GBMParams = field(default_factory=GBMParams)
    n_bins: int = 10
    n_bootstrap: int = 1000
    seed: int = 0
    n_threads: int = 1
    progress: bool = True

    def plan_split(
        self,
        con: duckdb.DuckDBPyConnection,
        purpose: str,
        check: Callable[[SourceSpan], None] | None = None,
    ) -> CutoffPlan:
        """Check the model families, let `check` vet the source's span, lay out the cut-offs.

        Raises InputError for unknown families, a missing source, or cut-offs that do not fit
        in the source's time range.
        """
        check_model_families(self.model_families)
        span = source_span(con, self.source)
        if check is not None:
            check(span)
        plan = plan_cutoffs(span, self.horizon, self.test_cutoff, self.n_train_cutoffs,
                            self.n_calibration_cutoffs, self.step, purpose)
        log.info("%s cut-offs: %s", purpose, plan.to_dict())
        return plan

    def classifier_factory(
        self, features: list[str], columns: Callable[[str, list[str]], list[str]] | None = None
    ) -> Callable[[str], CalibratedClassifier]:
        """Makes an unfitted classifier per model family with these settings (trees seeded
        with `seed`) over `features`, or ``columns(family, features)``."""
        return classifier_factory(features, self.gbm.with_seed(self.seed), self.logistic_c,
                                  self.n_threads, columns)

    def extra_settings(self) -> dict[str, Any]:
        """A subclass's own settings for :meth:`to_dict` (JSON-friendly)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "source": self.source,
            "horizon": str(self.horizon),
            "test_cutoff": _text(self.test_cutoff),
            "n_train_cutoffs": self.n_train_cutoffs,
            "n_calibration_cutoffs": self.n_calibration_cutoffs,
            "step": _text(self.step),
            **self.extra_settings(),
            "calibration": self.calibration,
            "model_families": list(self.model_families),
            "selection_folds": self.selection_folds,
            "logistic_c": self.logistic_c,
            "gbm": self.gbm.to_dict(),
            "n_bins": self.n_bins,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
        }


@dataclass
class LevelData:
    """Features and labels of one level (item or user) for a set of cut-offs, stacked."""

    X: pd.DataFrame
    y: np.ndarray
    cutoffs: np.ndarray
    weight: np.ndarray | None = None

    def select(self, mask: np.ndarray) -> LevelData:
        """The rows where `mask` is true."""
        return LevelData(
            self.X[mask].reset_index(drop=True),
            self.y[mask],
            self.cutoffs[mask],
            None if self.weight is None else self.weight[mask],
        )


def stack_level_data(
    frames: list[pd.DataFrame], labels: list[np.ndarray], cutoffs: list[int]
) -> LevelData:
    """One :class:`LevelData` from the feature frame and labels of each cut-off."""
    sizes = [len(f) for f in frames]
    X = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    return LevelData(X, y, np.repeat(np.asarray(cutoffs, dtype=np.int64), sizes))


def subsample_negatives(data: LevelData, rate: float, seed: int = 0) -> LevelData:
    """Keep every positive and a `rate` share of negatives, weighted 1/rate (rate 1 = all)."""
    if not 0.0 < rate <= 1.0:
        raise InputError(f"negative sampling rate must be in (0, 1], got {rate}")
    if rate == 1.0:
        return data
    rng = np.random.default_rng(seed)
    keep = (data.y == 1) | (rng.random(data.y.size) < rate)
    out = data.select(keep)
    out.weight = np.where(out.y == 1, 1.0, 1.0 / rate)
    return out


def require_both_classes(data: LevelData, what: str) -> None:
    """InputError unless `data` holds both positives and negatives."""
    if data.y.size == 0 or data.y.min() == data.y.max():
        raise InputError(
            f"{what} has {int(data.y.sum())} positives among {data.y.size} rows; "
            "both outcomes are needed (choose other cut-offs or a longer horizon)"
        )


def informative_features(X: pd.DataFrame, keys: tuple[str, ...]) -> list[str]:
    """Feature columns that vary in the training rows.

    All-NaN or constant columns are dropped (e.g. price features on a source without prices).
    """
    keep, dropped = [], []
    for col in feature_columns(X, keys):
        values = X[col].dropna()
        (keep if values.nunique() > 1 else dropped).append(col)
    if dropped:
        log.info("dropping %d uninformative features: %s", len(dropped), dropped)
    return keep


@dataclass
class LevelResult:
    """Test metrics of every scorer at one level, plus data sizes and comparisons."""

    level: str
    sizes: dict[str, dict[str, int]]
    metrics: dict[str, dict[str, Any]]
    reliability: dict[str, ReliabilityCurve]
    comparisons: dict[str, dict[str, float | None]]
    best_baseline: str
    model_beats_best_baseline: bool
    y_test: np.ndarray = field(repr=False)
    p_test: dict[str, np.ndarray] = field(repr=False)
    selection: dict[str, Any] = field(default_factory=dict)

    def auc(self, scorer: str = MODEL_NAME) -> float | None:
        """A scorer's calibrated test AUC (the model's by default); None when undefined."""
        return self.metrics[scorer]["auc"]

    def model_headline(self) -> dict[str, Any]:
        """The model's :data:`HEADLINE_METRICS` on the test window."""
        return {k: self.metrics[MODEL_NAME][k] for k in HEADLINE_METRICS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (without per-row predictions)."""
        return {
            "level": self.level,
            "sizes": self.sizes,
            "model_selection": self.selection,
            "metrics": self.metrics,
            "reliability": {k: v.to_dict() for k, v in self.reliability.items()},
            "model_vs_baselines_auc": self.comparisons,
            "best_baseline": self.best_baseline,
            "model_beats_best_baseline_auc": self.model_beats_best_baseline,
        }


@dataclass
class TemporalTrainReport:
    """What every temporal-split run returns besides its model and levels: the settings, the
    cut-offs and the timings; :meth:`to_dict` is the run's JSON report."""

    config: TemporalTrainConfig
    plan: CutoffPlan
    timings_s: dict[str, float]

    def evaluations(self) -> dict[str, LevelResult]:
        """The evaluated levels by report key."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly report of the run."""
        return {
            "config": self.config.to_dict(),
            "cutoffs": self.plan.to_dict(),
            **{key: level.to_dict() for key, level in self.evaluations().items()},
            "timings_s": self.timings_s,
        }


def select_family(
    families: tuple[str, ...],
    make: Callable[[str], CalibratedClassifier],
    train: LevelData,
    calib: LevelData,
    folds: list[int],
    horizon_us: int,
) -> tuple[str, dict[str, Any]]:
    """Pick a model family by rolling-origin validation AUC with the one-standard-error rule.

    Fold ``v``: fit on training rows whose label window ends by ``v``, score the rows at
    cut-off ``v``. Folds lacking either outcome are skipped. Among the families whose mean
    AUC is within one standard error (over folds) of the best mean, the one with the fewest
    features wins, then the higher mean, then the earlier family.
    """
    if len(families) == 1:
        return families[0], {"families": list(families), "selected": families[0]}
    table: dict[str, dict[str, float]] = {f: {} for f in families}
    n_features = {f: len(make(f).features) for f in families}
    for v in folds:
        fit = train.select(train.cutoffs + horizon_us <= v)
        val = calib.select(calib.cutoffs == v) if v in set(calib.cutoffs) else None
        if val is None:
            val = train.select(train.cutoffs == v)
        if fit.y.size == 0 or fit.y.min() == fit.y.max() or val.y.min() == val.y.max():
            continue
        for family in families:
            clf = make(family).fit(fit.X, fit.y, fit.weight)
            table[family][iso(v)] = roc_auc(val.y, clf.raw_score(val.X)) or 0.0
    means = {f: float(np.mean(list(t.values()))) if t else float("nan") for f, t in table.items()}
    scored = [f for f in families if not np.isnan(means[f])]
    if not scored:
        log.warning("no usable validation fold; keeping the first family %s", families[0])
        selected = families[0]
        threshold = float("nan")
    else:
        best = max(scored, key=lambda f: means[f])
        values = list(table[best].values())
        se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
        threshold = means[best] - se
        close = [f for f in scored if means[f] >= threshold]
        selected = min(close, key=lambda f: (n_features[f], -means[f], families.index(f)))
    log.info("model selection: mean validation AUC %s -> %s", means, selected)
    return selected, {
        "families": list(families),
        "n_features": n_features,
        "validation_auc": table,
        "mean_validation_auc": means,
        "one_se_threshold": threshold,
        "selected": selected,
        "rule": "one-standard-error rule over rolling-origin validation cut-offs before the "
        "test: fewest features among the families within one SE of the best mean AUC",
    }


def scorer_metrics(y: np.ndarray, p: np.ndarray, raw: np.ndarray, n_bins: int,
                    n_bootstrap: int, seed: int) -> dict[str, Any]:
    """The test metrics of one scorer's probabilities `p` (raw scores `raw`)."""
    m = binary_metrics(y, p)
    m["auc_raw_score"] = roc_auc(y, raw)
    m["auc_ci95"] = bootstrap_ci(y, p, roc_auc, n_bootstrap, seed=seed)
    m["ece"] = expected_calibration_error(y, p, n_bins, "uniform")
    m["ece_quantile"] = expected_calibration_error(y, p, n_bins, "quantile")
    m["mean_predicted"] = float(np.mean(p))
    return m


def evaluate_scorers(
    level: str,
    scorers: dict[str, CalibratedClassifier],
    train: LevelData,
    calib: LevelData,
    test: LevelData,
    calibration: str,
    n_bins: int = 10,
    n_bootstrap: int = 1000,
    seed: int = 0,
    model_name: str = MODEL_NAME,
) -> LevelResult:
    """Fit, calibrate and test each scorer the same way; compare the model's AUC to the rest.

    `scorers` maps a name to an unfitted :class:`CalibratedClassifier`; `model_name` is the
    one compared against the others (the baselines; names starting with ``candidate_`` are
    reported but not counted as baselines). Each scorer reports calibrated AUC, PR-AUC, log
    loss, Brier, ECE (equal-width and equal-mass bins), its raw-score AUC and a bootstrap 95%
    interval of the AUC; the model's raw probabilities are also reported as
    ``<model>_uncalibrated``.
    """
    stages = {"training window": train, "calibration window": calib, "test window": test}
    for what, data in stages.items():
        require_both_classes(data, f"{level}-level {what}")
    metrics: dict[str, dict[str, Any]] = {}
    curves: dict[str, ReliabilityCurve] = {}
    preds: dict[str, np.ndarray] = {}
    for name, scorer in scorers.items():
        scorer.fit(train.X, train.y, train.weight)
        raw = scorer.raw_score(test.X)
        scorer.fit_calibration(calib.X, calib.y, calibration)
        variants = {name: scorer.predict_proba(test.X)}
        if name == model_name:
            variants[f"{name}_uncalibrated"] = raw
        for vname, p in variants.items():
            metrics[vname] = scorer_metrics(test.y, p, raw, n_bins, n_bootstrap, seed)
            curves[vname] = reliability_curve(test.y, p, n_bins, "quantile")
            preds[vname] = p
    baselines = [n for n in scorers if n != model_name and not n.startswith("candidate_")]
    comparisons = {
        b: paired_bootstrap_diff(
            test.y, preds[model_name], preds[b], roc_auc, n_bootstrap, seed=seed
        )
        for b in baselines
    }
    best = max(baselines, key=lambda b: metrics[b]["auc"] or 0.0) if baselines else ""
    beats = bool(best) and (metrics[model_name]["auc"] or 0.0) > (metrics[best]["auc"] or 0.0)
    sizes = {name: {"rows": int(d.y.size), "positives": int(d.y.sum())}
             for name, d in zip(("train", "calibration", "test"), stages.values(), strict=True)}
    return LevelResult(level, sizes, metrics, curves, comparisons, best, beats, test.y, preds)


def fit_select_evaluate(
    level: str,
    families: tuple[str, ...],
    make: Callable[[str], CalibratedClassifier],
    baselines: dict[str, CalibratedClassifier],
    data: dict[str, LevelData],
    plan: CutoffPlan,
    config: TemporalTrainConfig,
) -> tuple[CalibratedClassifier, LevelResult]:
    """Select a family (:func:`select_family`), then fit, calibrate and test it beside the
    other candidate families and the `baselines` (:func:`evaluate_scorers`).

    `data` maps each stage (train, calibration, test) to its rows. Returns the fitted,
    calibrated model classifier and the level's evaluation (with the selection record).
    """
    train, calib, test = data["train"], data["calibration"], data["test"]
    with threadpool_limits(config.n_threads):
        family, selection = select_family(
            families, make, train, calib, selection_cutoffs(plan, config.selection_folds),
            plan.horizon_us,
        )
        model = make(family)
        scorers = {MODEL_NAME: model}
        scorers.update({f"candidate_{f}": make(f) for f in families if f != family})
        scorers.update(baselines)
        result = evaluate_scorers(level, scorers, train, calib, test, config.calibration,
                                  config.n_bins, config.n_bootstrap, config.seed)
    result.selection = {**selection, "family": family}
    return model, result
