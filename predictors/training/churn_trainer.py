"""Train and evaluate the churn model with a temporal split, beside a recency baseline.

The cut-off plan is the intent trainer's (training cut-offs whose label windows end before
the calibration cut-off, which ends before the test cut-off; see
:func:`predictors.training.intent_trainer.plan_cutoffs`). Scorers — the gradient-boosted
model, "days since last event" (recency) and a logistic regression on recency / frequency /
tenure — are trained, calibrated and tested identically.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from core.errors import InputError
from predictors.features import DurationLike, TimeLike, iso, source_span
from predictors.features import churn_features as C
from predictors.models.churn import ChurnModel
from predictors.models.intent import (
    MODEL_FAMILIES,
    CalibratedClassifier,
    ColumnScoreClassifier,
    GBMParams,
    logistic_model,
    make_estimator,
)
from predictors.training.intent_trainer import (
    MODEL_NAME,
    CutoffPlan,
    LevelData,
    LevelResult,
    evaluate_scorers,
    informative_features,
    plan_cutoffs,
    select_family,
    selection_cutoffs,
)

log = logging.getLogger(__name__)

RFM_FEATURES: tuple[str, ...] = ("days_since_last", "n_events", "days_since_first",
                                 "n_events_w3")
"""Columns of the logistic recency/frequency/tenure baseline."""


def default_churn_gbm() -> GBMParams:
    """Trees sized for a few thousand user rows."""
    return GBMParams(max_iter=200, learning_rate=0.03, max_leaf_nodes=7, min_samples_leaf=30,
                     l2_regularization=1.0, max_features=0.7)


@dataclass
class ChurnTrainConfig:
    """Source, horizon, eligibility, cut-off schedule, model and calibration settings."""

    source: str = "musical_instruments"
    horizon: DurationLike = "180D"
    test_cutoff: TimeLike | None = None
    n_train_cutoffs: int = 6
    n_calibration_cutoffs: int = 1
    step: DurationLike | None = "90D"
    lookback: DurationLike | None = None
    active_within: DurationLike | None = None
    min_events: int = 1
    calibration: str = "auto"
    model_families: tuple[str, ...] = ("logistic", "gbm")
    selection_folds: int = 3
    logistic_c: float = 0.1
    gbm: GBMParams = field(default_factory=default_churn_gbm)
    n_bins: int = 10
    n_bootstrap: int = 1000
    seed: int = 0
    n_threads: int = 1
    progress: bool = True

    def feature_config(self) -> C.ChurnFeatureConfig:
        """The feature/eligibility settings derived from this config."""
        return C.ChurnFeatureConfig(horizon=self.horizon, lookback=self.lookback,
                                    active_within=self.active_within,
                                    min_events=self.min_events)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "source": self.source,
            "horizon": str(self.horizon),
            "test_cutoff": None if self.test_cutoff is None else str(self.test_cutoff),
            "n_train_cutoffs": self.n_train_cutoffs,
            "n_calibration_cutoffs": self.n_calibration_cutoffs,
            "step": None if self.step is None else str(self.step),
            "lookback": None if self.lookback is None else str(self.lookback),
            "active_within": None if self.active_within is None else str(self.active_within),
            "min_events": self.min_events,
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
class ChurnTrainResult:
    """The fitted model and the evaluation of the run."""

    model: ChurnModel
    plan: CutoffPlan
    result: LevelResult
    timings_s: dict[str, float]
    config: ChurnTrainConfig

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly report of the run."""
        return {
            "config": self.config.to_dict(),
            "cutoffs": self.plan.to_dict(),
            "evaluation": self.result.to_dict(),
            "timings_s": self.timings_s,
        }


def build_churn_data(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoffs: tuple[int, ...],
    features: C.ChurnFeatureConfig,
    progress: bool = False,
    desc: str = "churn features",
) -> LevelData:
    """Churn features + labels (1 = churned) for each cut-off, stacked."""
    frames, labels, sizes = [], [], []
    for c in tqdm(cutoffs, desc=desc, disable=not progress, leave=False):
        X = C.churn_features(con, source, c, features)
        y = C.churn_labels(X, C.active_users(con, source, c, features.horizon))
        log.debug("cut-off %s: %d users, %d churned", iso(c), len(X), int(y.sum()))
        frames.append(X)
        labels.append(y)
        sizes.append(len(X))
    X = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    return LevelData(X, y, np.repeat(np.asarray(cutoffs, dtype=np.int64), sizes))


def churn_baselines() -> dict[str, CalibratedClassifier]:
    """Recency (days since the last event) and a logistic regression on RFM-style counts."""
    return {
        "recency": CalibratedClassifier(ColumnScoreClassifier(0, "saturate"),
                                        ["days_since_last"]),
        "logreg_rfm": CalibratedClassifier(logistic_model(C=1.0), list(RFM_FEATURES)),
    }


def train_churn(
    con: duckdb.DuckDBPyConnection, config: ChurnTrainConfig | None = None
) -> ChurnTrainResult:
    """Temporal-split training of the churn model with baselines; returns model + evaluation.

    Raises InputError when the source is missing or untimed, when the cut-offs do not fit in
    its time range, or when a window lacks churners or returners.
    """
    cfg = config or ChurnTrainConfig()
    if not cfg.model_families or set(cfg.model_families) - set(MODEL_FAMILIES):
        raise InputError(f"model families must be among {MODEL_FAMILIES}; got {cfg.model_families}")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    span = source_span(con, cfg.source)
    plan = plan_cutoffs(span, cfg.horizon, cfg.test_cutoff, cfg.n_train_cutoffs,
                        cfg.n_calibration_cutoffs, cfg.step, "churn training")
    log.info("churn cut-offs: %s", plan.to_dict())
    fc = cfg.feature_config()
    data = {
        name: build_churn_data(con, cfg.source, cutoffs, fc, cfg.progress,
                               f"churn features ({name})")
        for name, cutoffs in (("train", plan.train), ("calibration", plan.calibration),
                              ("test", (plan.test,)))
    }
    timings["features"] = time.perf_counter() - t0
    if data["train"].X.empty:
        raise InputError(f"no eligible users before the training cut-offs of {cfg.source!r}")
    features = informative_features(data["train"].X, C.KEYS)
    gbm = GBMParams(**{**cfg.gbm.to_dict(), "seed": cfg.seed})

    def make(family: str) -> CalibratedClassifier:
        return CalibratedClassifier(
            make_estimator(family, gbm, cfg.logistic_c), features, n_threads=cfg.n_threads
        )

    t1 = time.perf_counter()
    with threadpool_limits(cfg.n_threads):
        family, selection = select_family(
            cfg.model_families,
            make,
            data["train"],
            data["calibration"],
            selection_cutoffs(plan, cfg.selection_folds),
            plan.horizon_us,
        )
        model = ChurnModel(make(family), cfg.source, fc)
        scorers = {MODEL_NAME: model.classifier}
        scorers.update({f"candidate_{f}": make(f) for f in cfg.model_families if f != family})
        scorers.update(churn_baselines())
        result = evaluate_scorers(
            "user",
            scorers,
            data["train"],
            data["calibration"],
            data["test"],
            cfg.calibration,
            cfg.n_bins,
            cfg.n_bootstrap,
            cfg.seed,
        )
    result.selection = {**selection, "family": family}
    timings["fit_evaluate"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    log.info("churn: model AUC %.4f vs recency %.4f", result.metrics[MODEL_NAME]["auc"] or 0.0,
             result.metrics["recency"]["auc"] or 0.0)
    model.info = {
        "cutoffs": plan.to_dict(),
        "family": family,
        "test_metrics": {k: result.metrics[MODEL_NAME][k]
                         for k in ("auc", "pr_auc", "log_loss", "ece")},
    }
    return ChurnTrainResult(model, plan, result, timings, cfg)
