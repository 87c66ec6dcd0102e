"""Purchase-intent model: calibrated classifiers at item and user level.

:class:`IntentModel` holds two :class:`~predictors.models.classifier.CalibratedClassifier` —
P(buy item | user, item history) and P(any purchase | user history) — plus what is needed to
rebuild its features. It is saved as a directory holding ``model.joblib`` and
``metadata.json``; loading runs pickle code: load only model files you created or trust.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from predictors.features.intent_features import IntentFeatureConfig

# `_signed_log1p` is imported for checkpoints saved before the generic classifier code moved
# to `classifier.py`: they pickled it (and CalibratedClassifier) under this module's name.
from predictors.models.classifier import (  # noqa: F401
    CalibratedClassifier,
    ClassifierModel,
    _signed_log1p,
)
from store.checkpoints import INTENT


class IntentModel(ClassifierModel):
    """Item-level and user-level purchase-intent classifiers for one source and horizon."""

    KIND = INTENT

    def __init__(
        self,
        item: CalibratedClassifier,
        user: CalibratedClassifier,
        source: str,
        horizon: str,
        feature_config: IntentFeatureConfig,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(source, feature_config, info)
        self.item, self.user, self.horizon = item, user, horizon

    def classifiers(self) -> dict[str, CalibratedClassifier]:
        """The item-level and user-level classifiers by metadata key."""
        return {"item_model": self.item, "user_model": self.user}

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
