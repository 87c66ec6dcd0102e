"""Purchase-intent model: calibrated gradient-boosted classifiers at item and user level.

:class:`CalibratedClassifier` wraps any scikit-learn classifier (by default a
``HistGradientBoostingClassifier``) with its feature list and a :class:`Calibrator` fitted on
a later, held-out window. :class:`IntentModel` holds two of them — P(buy item | user, item
history) and P(any purchase | user history) — plus what is needed to rebuild its features.

Models are saved as a directory holding ``model.joblib`` and ``metadata.json``. Loading runs
pickle code: load only model files you created or trust.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from core.errors import InputError
from predictors.evaluation.calibration import Calibrator
from predictors.features.intent_features import IntentFeatureConfig

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
META_FILE = "metadata.json"
FORMAT_VERSION = 1


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
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            max_features=self.max_features,
            early_stopping=False,
            random_state=self.seed,
        )

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


MODEL_FAMILIES = ("gbm", "logistic", "logistic_habit")
"""`logistic_habit` is the logistic model restricted to the user's recency / frequency counts
plus long-run habit rates (the trainer picks those columns, user level only); the others use
every feature."""


def make_estimator(family: str, gbm: GBMParams | None = None, C: float = 0.1
                   ) -> ClassifierMixin:
    """An unfitted classifier of a model family: gradient-boosted trees or logistic."""
    if family == "gbm":
        return (gbm or GBMParams()).build()
    if family in ("logistic", "logistic_habit"):
        return logistic_model(C)
    raise InputError(f"unknown model family {family!r}; choose from {MODEL_FAMILIES}")


def save_model_dir(obj: Any, path: Path, metadata: dict[str, Any]) -> Path:
    """Write `obj` (joblib) and `metadata` (JSON) into directory `path`, each atomically.

    The metadata file is replaced last, so a reader that checks it sees a matching model.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {
        **metadata,
        "format_version": FORMAT_VERSION,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sklearn_version": sklearn.__version__,
    }
    for name, writer in (
        (MODEL_FILE, lambda p: joblib.dump(obj, p)),
        (
            META_FILE,
            lambda p: Path(p).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8"),
        ),
    ):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path)
        os.close(fd)
        try:
            writer(tmp)
            os.replace(tmp, path / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def load_model_dir(path: Path, kind: str) -> tuple[Any, dict[str, Any]]:
    """Read a model directory written by :func:`save_model_dir`; check its kind and format."""
    path = Path(path)
    meta_path, model_path = path / META_FILE, path / MODEL_FILE
    if not meta_path.exists() or not model_path.exists():
        raise InputError(f"{path} is not a saved model (needs {MODEL_FILE} and {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path} is not valid JSON: {exc}") from exc
    if meta.get("kind") != kind:
        raise InputError(f"{path} holds a {meta.get('kind')!r} model, not {kind!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: unsupported model format {meta.get('format_version')}")
    if meta.get("sklearn_version") != sklearn.__version__:
        log.warning(
            "model %s was saved with scikit-learn %s, running %s",
            path,
            meta.get("sklearn_version"),
            sklearn.__version__,
        )
    return joblib.load(model_path), meta


class IntentModel:
    """Item-level and user-level purchase-intent classifiers for one source and horizon."""

    KIND = "intent"

    def __init__(
        self,
        item: CalibratedClassifier,
        user: CalibratedClassifier,
        source: str,
        horizon: str,
        feature_config: IntentFeatureConfig,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.item = item
        self.user = user
        self.source = source
        self.horizon = horizon
        self.feature_config = feature_config
        self.info = dict(info or {})

    def fit(
        self,
        X_item: pd.DataFrame,
        y_item: np.ndarray,
        X_user: pd.DataFrame,
        y_user: np.ndarray,
        item_weight: np.ndarray | None = None,
    ) -> IntentModel:
        """Train both classifiers (item rows and user rows from the training cut-offs)."""
        self.item.fit(X_item, y_item, item_weight)
        self.user.fit(X_user, y_user)
        return self

    def calibrate(
        self,
        X_item: pd.DataFrame,
        y_item: np.ndarray,
        X_user: pd.DataFrame,
        y_user: np.ndarray,
        method: str = "auto",
    ) -> IntentModel:
        """Fit both calibrators on a held-out window."""
        self.item.fit_calibration(X_item, y_item, method)
        self.user.fit_calibration(X_user, y_user, method)
        return self

    def predict_item_proba(self, X_item: pd.DataFrame) -> np.ndarray:
        """Calibrated P(user buys this item within the horizon) per candidate row."""
        return self.item.predict_proba(X_item)

    def predict_user_proba(self, X_user: pd.DataFrame) -> np.ndarray:
        """Calibrated P(user buys anything within the horizon) per user row."""
        return self.user.predict_proba(X_user)

    def metadata(self) -> dict[str, Any]:
        """Everything a reader needs to reproduce the features and judge the model."""
        return {
            "kind": self.KIND,
            "source": self.source,
            "horizon": self.horizon,
            "feature_config": self.feature_config.to_dict(),
            "item_model": self.item.describe(),
            "user_model": self.user.describe(),
            **self.info,
        }

    def save(self, path: Path) -> Path:
        """Save to directory `path` (model.joblib + metadata.json)."""
        return save_model_dir(self, path, self.metadata())

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Load a model saved by :meth:`save` (trusted files only: this unpickles)."""
        obj, _ = load_model_dir(path, cls.KIND)
        if not isinstance(obj, cls):
            raise InputError(f"{path} does not hold an IntentModel")
        return obj
