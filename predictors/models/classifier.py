"""Calibrated binary classifiers over named feature columns, shared by the intent and churn models.

:class:`CalibratedClassifier` wraps any scikit-learn classifier (by default a
``HistGradientBoostingClassifier``) with its feature list and a :class:`Calibrator` fitted on
a later, held-out window. :func:`make_estimator` builds the estimator of a model family
(:data:`MODEL_FAMILIES`); :class:`ColumnScoreClassifier` and :func:`logistic_model` are the
building blocks of the hand baselines. :class:`ClassifierModel` is the saved form: calibrated
classifiers for one source and horizon, plus the feature settings to rebuild their inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from core.errors import InputError
from predictors.evaluation.calibration import Calibrator
from predictors.models.model_dir import SavedModel


@dataclass
class GBMParams:
    """Hyperparameters of the gradient-boosted trees (sklearn HistGradientBoostingClassifier)."""

    max_iter: int = 250
    learning_rate: float = 0.04
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    max_features: float = 0.7
    seed: int = 0

    def build(self) -> HistGradientBoostingClassifier:
        """A fresh, unfitted classifier with these settings (deterministic given `seed`)."""
        params = self.to_dict()
        seed = params.pop("seed")
        return HistGradientBoostingClassifier(**params, early_stopping=False, random_state=seed)

    def with_seed(self, seed: int) -> GBMParams:
        """The same settings with another random seed."""
        return replace(self, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


class CalibratedClassifier:
    """A classifier over named feature columns, with an optional probability calibrator.

    Fitting and scoring run with at most `n_threads` native threads: OpenMP thread pools
    spin-wait, and on a shared or busy CPU more threads make small models much slower.
    """

    def __init__(
        self,
        estimator: ClassifierMixin,
        features: list[str],
        calibrator: Calibrator | None = None,
        n_threads: int = 1,
    ) -> None:
        self.estimator = estimator
        self.features = list(features)
        self.calibrator = calibrator
        self.n_threads = n_threads
        self.n_train = 0
        self.n_train_positive = 0

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise InputError(f"feature frame lacks columns the model needs: {missing[:8]}")
        return X[self.features].to_numpy(dtype=np.float64)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None
            ) -> CalibratedClassifier:
        """Train the classifier (clears any calibration: it belongs to the old fit).

        `sample_weight` (e.g. the inverse of a negative-subsampling rate) is passed to the
        estimator, or to the last step of a pipeline.
        """
        y = np.asarray(y).astype(np.int64)
        if y.size == 0 or y.min() == y.max():
            raise InputError(
                f"training needs both outcomes; got {int(y.sum())} positives in {y.size} rows "
                "(choose more or other cut-offs, or a longer horizon)"
            )
        self.estimator = clone(self.estimator)
        fit_params: dict[str, Any] = {}
        if sample_weight is not None and not isinstance(self.estimator, ColumnScoreClassifier):
            key = (f"{self.estimator.steps[-1][0]}__sample_weight"
                   if isinstance(self.estimator, Pipeline) else "sample_weight")
            fit_params[key] = np.asarray(sample_weight, dtype=np.float64)
        with threadpool_limits(self.n_threads):
            self.estimator.fit(self._matrix(X), y, **fit_params)
        self.calibrator = None
        self.n_train, self.n_train_positive = int(y.size), int(y.sum())
        return self

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated P(positive) from the classifier."""
        if len(X) == 0:
            return np.zeros(0)
        with threadpool_limits(self.n_threads):
            return self.estimator.predict_proba(self._matrix(X))[:, 1]

    def fit_calibration(
        self, X: pd.DataFrame, y: np.ndarray, method: str = "auto"
    ) -> CalibratedClassifier:
        """Fit the calibrator on a held-out window (rows the classifier was not trained on)."""
        self.calibrator = Calibrator(method).fit(self.raw_score(X), np.asarray(y))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(positive) per row (1-D); the raw score when no calibrator is fitted."""
        raw = self.raw_score(X)
        return raw if self.calibrator is None else self.calibrator.transform(raw)

    def describe(self) -> dict[str, Any]:
        """Estimator settings, feature list, training size and calibration, for metadata."""
        params = {
            k: v
            for k, v in self.estimator.get_params().items()
            if isinstance(v, int | float | str | bool | type(None))
        }
        return {
            "estimator": type(self.estimator).__name__,
            "params": params,
            "features": self.features,
            "n_train": self.n_train,
            "n_train_positive": self.n_train_positive,
            "calibration": None if self.calibrator is None else self.calibrator.describe(),
        }


class ColumnScoreClassifier(ClassifierMixin, BaseEstimator):
    """Baseline that scores each row by one feature column (no learning).

    ``transform="indicator"`` scores 1 when the column is positive, else 0;
    ``transform="saturate"`` maps a non-negative column ``x`` to ``x / (1 + x)`` so the score
    lies in [0, 1) (recency in days, counts); ``negate=True`` reverses the order, e.g. to make
    *fewer* days since the last event mean a *higher* score. NaN scores as 0 (or 1 negated).
    """

    def __init__(self, column: int = 0, transform: str = "identity", negate: bool = False):
        self.column = column
        self.transform = transform
        self.negate = negate

    def fit(self, X: np.ndarray, y: np.ndarray) -> ColumnScoreClassifier:
        """Nothing to learn; records the classes."""
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """[1 - score, score] per row."""
        x = np.nan_to_num(np.asarray(X, dtype=np.float64)[:, self.column], nan=0.0)
        if self.transform == "saturate":
            x = np.clip(x, 0.0, None)
            x = x / (1.0 + x)
        elif self.transform == "indicator":
            x = (x > 0).astype(np.float64)
        elif self.transform != "identity":
            raise ValueError(f"unknown transform {self.transform!r}")
        x = np.clip(x, 0.0, 1.0)
        if self.negate:
            x = 1.0 - x
        return np.column_stack([1.0 - x, x])


def column_baseline(column: str, transform: str) -> CalibratedClassifier:
    """A hand baseline scoring rows by one feature column (see :class:`ColumnScoreClassifier`)."""
    return CalibratedClassifier(ColumnScoreClassifier(0, transform), [column])


def _signed_log1p(X: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|): tames heavy-tailed counts and durations, keeps NaN and sign."""
    X = np.asarray(X, dtype=np.float64)
    return np.sign(X) * np.log1p(np.abs(X))


def logistic_model(C: float = 1.0) -> Pipeline:
    """Logistic regression over signed-log features: median imputation with missing-value
    indicators (so "never carted" is its own signal), standardisation, L2 penalty `C`."""
    return Pipeline([
        ("log", FunctionTransformer(_signed_log1p)),
        ("impute", SimpleImputer(strategy="median", add_indicator=True,
                                 keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("lr", LogisticRegression(C=C, max_iter=5000)),
    ])


def logistic_baseline(columns: tuple[str, ...]) -> CalibratedClassifier:
    """A hand baseline: logistic regression (C = 1) over a few named columns."""
    return CalibratedClassifier(logistic_model(C=1.0), list(columns))


MODEL_FAMILIES = ("gbm", "logistic", "logistic_habit")
"""`logistic_habit` is the logistic model restricted to the user's recency / frequency counts
plus long-run habit rates (the trainer picks those columns, user level only); the others use
every feature."""


def check_model_families(families: tuple[str, ...]) -> None:
    """InputError unless `families` is a non-empty selection of :data:`MODEL_FAMILIES`."""
    bad = [f for f in families if f not in MODEL_FAMILIES]
    if not families or bad:
        raise InputError(f"model families must be among {MODEL_FAMILIES}; got {families}")


def make_estimator(family: str, gbm: GBMParams | None = None, C: float = 0.1
                   ) -> ClassifierMixin:
    """An unfitted classifier of a model family: gradient-boosted trees or logistic."""
    if family == "gbm":
        return (gbm or GBMParams()).build()
    if family in ("logistic", "logistic_habit"):
        return logistic_model(C)
    raise InputError(f"unknown model family {family!r}; choose from {MODEL_FAMILIES}")


def classifier_factory(
    features: list[str],
    gbm: GBMParams,
    logistic_c: float,
    n_threads: int = 1,
    columns: Callable[[str, list[str]], list[str]] | None = None,
) -> Callable[[str], CalibratedClassifier]:
    """A function making an unfitted :class:`CalibratedClassifier` per model family.

    Each uses `features`, or ``columns(family, features)`` when a family reads only some.
    """

    def make(family: str) -> CalibratedClassifier:
        """An unfitted classifier of `family`."""
        used = features if columns is None else columns(family, features)
        return CalibratedClassifier(
            make_estimator(family, gbm, logistic_c), used, n_threads=n_threads
        )

    return make


class FeatureConfig(Protocol):
    """Feature settings saved with a model (intent or churn feature config)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description."""
        ...


class ClassifierModel(SavedModel):
    """Calibrated classifiers for one source and horizon, with the feature settings that rebuild
    their inputs; saved as a model directory (see :mod:`predictors.models.model_dir`)."""

    horizon: str

    def __init__(self, source: str, feature_config: FeatureConfig,
                 info: dict[str, Any] | None = None) -> None:
        self.source = source
        self.feature_config = feature_config
        self.info = dict(info or {})

    def classifiers(self) -> dict[str, CalibratedClassifier]:
        """The model's classifiers by their metadata key."""
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        """Everything a reader needs to reproduce the features and judge the model."""
        return {
            "kind": self.KIND,
            "source": self.source,
            "horizon": self.horizon,
            "feature_config": self.feature_config.to_dict(),
            **{key: clf.describe() for key, clf in self.classifiers().items()},
            **self.info,
        }
