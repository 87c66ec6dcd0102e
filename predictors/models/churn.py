"""Churn-risk model: a calibrated classifier of P(no activity within the horizon | history).

Built from the same parts as the intent model (:class:`CalibratedClassifier`, a
gradient-boosted or logistic classifier plus a calibrator fitted on a later window) and saved
the same way (a directory with ``model.joblib`` + ``metadata.json``; loading unpickles, so
load only trusted files).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from predictors.features.churn_features import ChurnFeatureConfig
from predictors.models.classifier import CalibratedClassifier, ClassifierModel, GBMParams
from store.checkpoints import CHURN


class ChurnModel(ClassifierModel):
    """P(churn) per user for one source, horizon and eligibility rule."""

    KIND = CHURN

    def __init__(
        self,
        classifier: CalibratedClassifier,
        source: str,
        feature_config: ChurnFeatureConfig,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(source, feature_config, info)
        self.classifier = classifier

    @property
    def horizon(self) -> str:
        """The horizon the model predicts over, as text."""
        return str(self.feature_config.horizon)

    def classifiers(self) -> dict[str, CalibratedClassifier]:
        """The one classifier, under the metadata key ``model``."""
        return {"model": self.classifier}

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
