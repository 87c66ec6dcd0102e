"""Fixtures of the predictor tests: a small trained workspace for the audience builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from predictors.pipeline import TrainRequest, score_sources, train_source
from predictors.training.churn_trainer import ChurnTrainConfig, train_churn
from predictors.training.intent_trainer import IntentTrainConfig, train_intent
from store.checkpoints import CHURN, INTENT, NEXT_ITEM, SEGMENTS, save_checkpoint
from store.ingest import ingest
from store.sample import SAMPLE_DIR, SAMPLE_FILES
from store.workspace import Workspace

TAOBAO = next(f for f in SAMPLE_FILES if f.source == "taobao")


def _save(ws: Workspace, kind: str, result: Any) -> None:
    save_checkpoint(ws, "taobao", kind, lambda d: result.model.save(d / "model"),
                    {"evaluation": result.to_dict()})


def train_sample_models(root: Path) -> Path:
    """Ingest the Taobao sample slice; train a quick next-item model, segments, and small
    intent and one-day churn models (one logistic family each: seconds, not minutes; the
    default churn horizon of 180 days cannot fit 9 days of data); score every user."""
    ingest(TAOBAO.kind, SAMPLE_DIR / TAOBAO.relative_path, root, source="taobao")
    train_source(root, "taobao", TrainRequest(kinds=(NEXT_ITEM,), quick=True, epochs=1))
    ws = Workspace.open(root)
    small = {"source": "taobao", "horizon": "1D", "n_train_cutoffs": 3, "progress": False,
             "n_bootstrap": 10, "model_families": ("logistic",)}
    con = ws.connect()
    try:
        intent = train_intent(con, IntentTrainConfig(**small))
        churn = train_churn(con, ChurnTrainConfig(**small, step="1D"))
    finally:
        con.close()
    _save(ws, INTENT, intent)
    _save(ws, CHURN, churn)
    train_source(root, "taobao", TrainRequest(kinds=(SEGMENTS,)))
    score_sources(root, ["taobao"])
    return root


@pytest.fixture(scope="session")
def audience_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The trained Taobao sample workspace, shared by the audience tests (CLI and chat too)."""
    return Workspace.open(train_sample_models(tmp_path_factory.mktemp("audience") / "ws"))
