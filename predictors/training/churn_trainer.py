"""Train and evaluate the churn model with a temporal split, beside a recency baseline.

The cut-off plan and the select → fit → calibrate → test harness are the intent trainer's
(:mod:`predictors.training.cutoffs`, :mod:`predictors.training.temporal`): training cut-offs
whose label windows end before the calibration cut-off, which ends before the test cut-off.
Scorers — the selected model family, "days since last event" (recency) and a logistic
regression on recency / frequency / tenure — are trained, calibrated and tested identically.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
from tqdm import tqdm

from core.errors import InputError
from predictors.features import DurationLike, iso
from predictors.features import churn_features as C
from predictors.models.churn import ChurnModel
from predictors.models.classifier import (
    CalibratedClassifier,
    GBMParams,
    column_baseline,
    logistic_baseline,
)
from predictors.training import temporal

log = logging.getLogger(__name__)

RFM_FEATURES: tuple[str, ...] = ("days_since_last", "n_events", "days_since_first",
                                 "n_events_w3")
"""Columns of the logistic recency/frequency/tenure baseline."""


def default_churn_gbm() -> GBMParams:
    """Trees sized for a few thousand user rows."""
    return GBMParams(max_iter=200, learning_rate=0.03, max_leaf_nodes=7, min_samples_leaf=30,
                     l2_regularization=1.0, max_features=0.7)


@dataclass
class ChurnTrainConfig(temporal.TemporalTrainConfig):
    """Source, horizon, eligibility, cut-off schedule, model and calibration settings."""

    source: str = "musical_instruments"
    horizon: DurationLike = "180D"
    n_train_cutoffs: int = 6
    step: DurationLike | None = "90D"
    gbm: GBMParams = field(default_factory=default_churn_gbm)
    lookback: DurationLike | None = None
    active_within: DurationLike | None = None
    min_events: int = 1

    def feature_config(self) -> C.ChurnFeatureConfig:
        """The feature/eligibility settings derived from this config."""
        return C.ChurnFeatureConfig(horizon=self.horizon, lookback=self.lookback,
                                    active_within=self.active_within,
                                    min_events=self.min_events)

    def extra_settings(self) -> dict[str, Any]:
        """Feature lookback and who is eligible."""
        return {
            "lookback": None if self.lookback is None else str(self.lookback),
            "active_within": None if self.active_within is None else str(self.active_within),
            "min_events": self.min_events,
        }


@dataclass
class ChurnTrainResult(temporal.TemporalTrainReport):
    """The fitted model and the evaluation of the run (one level: users)."""

    model: ChurnModel
    result: temporal.LevelResult

    def evaluations(self) -> dict[str, temporal.LevelResult]:
        """The user level, as ``evaluation``."""
        return {"evaluation": self.result}


def build_churn_data(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoffs: tuple[int, ...],
    features: C.ChurnFeatureConfig,
    progress: bool = False,
    desc: str = "churn features",
) -> temporal.LevelData:
    """Churn features + labels (1 = churned) for each cut-off, stacked."""
    frames, labels = [], []
    for c in tqdm(cutoffs, desc=desc, disable=not progress, leave=False):
        X = C.churn_features(con, source, c, features)
        y = C.churn_labels(X, C.active_users(con, source, c, features.horizon))
        log.debug("cut-off %s: %d users, %d churned", iso(c), len(X), int(y.sum()))
        frames.append(X)
        labels.append(y)
    return temporal.stack_level_data(frames, labels, list(cutoffs))


def churn_baselines() -> dict[str, CalibratedClassifier]:
    """Recency (days since the last event) and a logistic regression on RFM-style counts."""
    return {
        "recency": column_baseline("days_since_last", "saturate"),
        "logreg_rfm": logistic_baseline(RFM_FEATURES),
    }


def train_churn(
    con: duckdb.DuckDBPyConnection, config: ChurnTrainConfig | None = None
) -> ChurnTrainResult:
    """Temporal-split training of the churn model with baselines; returns model + evaluation.

    Raises InputError when the source is missing or untimed, when the cut-offs do not fit in
    its time range, or when a window lacks churners or returners.
    """
    cfg = config or ChurnTrainConfig()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    plan = cfg.plan_split(con, "churn training")
    fc = cfg.feature_config()
    data = {
        name: build_churn_data(con, cfg.source, cutoffs, fc, cfg.progress,
                               f"churn features ({name})")
        for name, cutoffs in plan.stages()
    }
    timings["features"] = time.perf_counter() - t0
    if data["train"].X.empty:
        raise InputError(f"no eligible users before the training cut-offs of {cfg.source!r}")
    features = temporal.informative_features(data["train"].X, C.KEYS)
    t1 = time.perf_counter()
    classifier, result = temporal.fit_select_evaluate(
        "user", cfg.model_families, cfg.classifier_factory(features), churn_baselines(), data,
        plan, cfg,
    )
    timings["fit_evaluate"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    log.info("churn: model AUC %.4f vs recency %.4f", result.auc() or 0.0,
             result.auc("recency") or 0.0)
    info = {"cutoffs": plan.to_dict(), "family": result.selection["family"],
            "test_metrics": result.model_headline()}
    return ChurnTrainResult(cfg, plan, timings, ChurnModel(classifier, cfg.source, fc, info),
                            result)
