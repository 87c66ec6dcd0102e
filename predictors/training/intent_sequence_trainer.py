"""Fit the sequence-aware intent model as a calibrated classifier beside the hand features.

:class:`SequenceIntentClassifier` has the interface of
:class:`~predictors.models.classifier.CalibratedClassifier` (fit → raw score → calibration →
probabilities), so the temporal harness fits, calibrates and tests it on exactly the rows,
cut-offs and calibration window of the hand-feature model and its baselines. Its feature
frame needs the key columns and :data:`CUTOFF_COLUMN`; the events come from an
:class:`~predictors.features.intent_sequences.EventHistory`.

Epochs are chosen inside the training rows, like the hand model's family: the latest
training cut-off is held out for validation AUC, the network is fitted on the cut-offs whose
label windows end by it, and the best epoch's weights are kept (early stopping, no refit).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from core.errors import InputError
from predictors.evaluation.classification import roc_auc
from predictors.features.intent_sequences import EventHistory, SequenceTokens
from predictors.models.classifier import CalibratedClassifier
from predictors.models.intent_sequence import IntentSequenceConfig, IntentSequenceModel
from predictors.training.runtime import seed_everything

log = logging.getLogger(__name__)

CUTOFF_COLUMN = "cutoff_us"
"""Feature-frame column with each row's cut-off (epoch µs), added by the harness."""


@dataclass
class SequenceTrainSettings:
    """Training settings of the sequence intent model, fixed before any Taobao figure was
    seen (``max_len`` 32, not 64: a 64-token batch took 0.39 s on one CPU thread, 3x longer)."""

    max_len: int = 32
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = 0.1
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    max_epochs: int = 15
    patience: int = 3
    seed: int = 0
    progress: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


class SequenceIntentClassifier(CalibratedClassifier):
    """Transformer over each row's event tokens, with the hand model's calibration step."""

    def __init__(self, history: EventHistory, level: str, horizon_us: int,
                 settings: SequenceTrainSettings | None = None, n_threads: int = 1) -> None:
        super().__init__(estimator=None, features=[CUTOFF_COLUMN],  # type: ignore[arg-type]
                         n_threads=n_threads)
        if level not in ("item", "user"):
            raise InputError(f"level must be 'item' or 'user', not {level!r}")
        self.history, self.level, self.horizon_us = history, level, horizon_us
        self.settings = settings or SequenceTrainSettings()
        self.model: IntentSequenceModel | None = None
        self.training_log: dict[str, Any] = {}

    def _tokens(self, X: pd.DataFrame) -> SequenceTokens:
        needed = ["user_id", CUTOFF_COLUMN] + (["item_id"] if self.level == "item" else [])
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise InputError(f"sequence intent rows lack columns {missing}")
        items = X["item_id"] if self.level == "item" else None
        return self.history.tokens(X["user_id"], X[CUTOFF_COLUMN].to_numpy(np.int64), items,
                                   self.settings.max_len)

    def _logits(self, tokens: SequenceTokens) -> np.ndarray:
        assert self.model is not None
        self.model.eval()
        out = []
        with torch.no_grad():
            for lo in range(0, len(tokens), 4096):
                out.append(self.model(*_batch(tokens, slice(lo, lo + 4096))).numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None
            ) -> SequenceIntentClassifier:
        """Train with early stopping on the latest training cut-off (see the module doc)."""
        y = np.asarray(y).astype(np.float32)
        if y.size == 0 or y.min() == y.max():
            raise InputError(f"training needs both outcomes; got {int(y.sum())} positives in "
                             f"{y.size} rows")
        s = self.settings
        torch.set_num_threads(max(1, self.n_threads))
        seed_everything(s.seed)
        weight = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight,
                                                                          np.float32)
        cutoffs = X[CUTOFF_COLUMN].to_numpy(np.int64)
        v = int(cutoffs.max())
        fit_rows = cutoffs + self.horizon_us <= v
        val_rows = cutoffs == v
        if not fit_rows.any() or y[fit_rows].min() == y[fit_rows].max() \
                or y[val_rows].min() == y[val_rows].max():
            fit_rows, val_rows = np.ones_like(fit_rows), np.zeros_like(val_rows)
        tokens = self._tokens(X)
        self.model = IntentSequenceModel(IntentSequenceConfig(
            n_types=self.history.n_types, max_len=s.max_len, d_model=s.d_model,
            n_heads=s.n_heads, n_layers=s.n_layers, dropout=s.dropout))
        opt = torch.optim.AdamW(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        loss_fn = nn.BCEWithLogitsLoss(reduction="none")
        fit_idx = np.flatnonzero(fit_rows)
        val_tokens = _subset(tokens, np.flatnonzero(val_rows))
        rng = np.random.default_rng(s.seed)
        best_auc, best_state, best_epoch, history = -1.0, None, 0, []
        for epoch in tqdm(range(1, s.max_epochs + 1), desc=f"sequence intent ({self.level})",
                          disable=not s.progress, leave=False):
            self.model.train()
            order = rng.permutation(fit_idx)
            for lo in range(0, order.size, s.batch_size):
                idx = order[lo:lo + s.batch_size]
                logits = self.model(*_batch(tokens, idx))
                loss = (loss_fn(logits, torch.from_numpy(y[idx]))
                        * torch.from_numpy(weight[idx])).sum() / float(weight[idx].sum())
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                opt.step()
            if not val_rows.any():
                best_state, best_epoch = copy.deepcopy(self.model.state_dict()), epoch
                continue
            auc = roc_auc(y[val_rows], self._logits(val_tokens)) or 0.0
            history.append(round(float(auc), 4))
            if auc > best_auc:
                best_auc, best_epoch = auc, epoch
                best_state = copy.deepcopy(self.model.state_dict())
            elif epoch - best_epoch >= s.patience:
                break
        assert best_state is not None
        self.model.load_state_dict(best_state)
        self.calibrator = None
        self.n_train, self.n_train_positive = int(fit_rows.sum()), int(y[fit_rows].sum())
        self.training_log = {"best_epoch": best_epoch, "validation_auc_by_epoch": history,
                             "validation_cutoff_us": v if val_rows.any() else None}
        log.info("sequence intent (%s): best epoch %d, validation AUC %s", self.level,
                 best_epoch, history)
        return self

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated P(purchase) per row (sigmoid of the network's logit)."""
        if self.model is None:
            raise InputError("the sequence intent model is not fitted")
        if len(X) == 0:
            return np.zeros(0)
        torch.set_num_threads(max(1, self.n_threads))
        return 1.0 / (1.0 + np.exp(-self._logits(self._tokens(X)).astype(np.float64)))

    def describe(self) -> dict[str, Any]:
        """Settings, training size and the epoch log, for reports."""
        return {"estimator": "IntentSequenceModel", "level": self.level,
                "settings": self.settings.to_dict(), "n_train": self.n_train,
                "n_train_positive": self.n_train_positive, **self.training_log}


def _subset(tokens: SequenceTokens, idx: np.ndarray) -> SequenceTokens:
    return SequenceTokens(tokens.types[idx], tokens.gaps[idx], tokens.same_item[idx],
                          tokens.same_category[idx])


def _batch(tokens: SequenceTokens, idx: np.ndarray | slice) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a[idx])) for a in (
        tokens.types, tokens.gaps, tokens.same_item, tokens.same_category))
