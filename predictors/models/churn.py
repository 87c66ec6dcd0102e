"""Churn-risk model: a calibrated classifier of P(no activity within the horizon | history).

Built from the same parts as the intent model (:class:`CalibratedClassifier`, a
gradient-boosted classifier plus a calibrator fitted on a later window) and saved the same
way (a directory with ``model.joblib`` + ``metadata.json``; loading unpickles, so load only
trusted files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InputError
from predictors.features.churn_features import ChurnFeatureConfig
from predictors.models.intent import (
    CalibratedClassifier,
    GBMParams,
    load_model_dir,
    save_model_dir,
)


class ChurnModel:
    """P(churn) per user for one source, horizon and eligibility rule."""

    KIND = "churn"

    def __init__(
        self,
        classifier: CalibratedClassifier,
        source: str,
        feature_config: ChurnFeatureConfig,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.classifier = classifier
        self.source = source
        self.feature_config = feature_config
        self.info = dict(info or {})

    @property
    def horizon(self) -> str:
        """The horizon the model predicts over, as text."""
        return str(self.feature_config.horizon)

    @classmethod
    def untrained(
        cls,
        features: list[str],
        source: str,
        feature_config: ChurnFeatureConfig,
        params: GBMParams | None = None,
    ) -> ChurnModel:
        """A model with an unfitted classifier over the given feature columns."""
        return cls(CalibratedClassifier((params or GBMParams()).build(), features), source,
                   feature_config)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ChurnModel:
        """Train on stacked training cut-offs (y = 1 for churned)."""
        self.classifier.fit(X, y)
        return self

    def calibrate(self, X: pd.DataFrame, y: np.ndarray, method: str = "auto") -> ChurnModel:
        """Fit the calibrator on a held-out window."""
        self.classifier.fit_calibration(X, y, method)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(no activity within the horizon) per user row."""
        return self.classifier.predict_proba(X)

    def metadata(self) -> dict[str, Any]:
        """Source, horizon, eligibility, classifier description and evaluation summary."""
        return {
            "kind": self.KIND,
            "source": self.source,
            "horizon": self.horizon,
            "feature_config": self.feature_config.to_dict(),
            "model": self.classifier.describe(),
            **self.info,
        }

    def save(self, path: Path) -> Path:
        """Save to directory `path` (model.joblib + metadata.json)."""
        return save_model_dir(self, path, self.metadata())

    @classmethod
    def load(cls, path: Path) -> ChurnModel:
        """Load a model saved by :meth:`save` (trusted files only: this unpickles)."""
        obj, _ = load_model_dir(path, cls.KIND)
        if not isinstance(obj, cls):
            raise InputError(f"{path} does not hold a ChurnModel")
        return obj
