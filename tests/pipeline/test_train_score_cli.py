"""A tiny train → evaluate → score run on the bundled sample, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from predictors.pipeline import TrainRequest
from store.checkpoints import (
    CHURN,
    INTENT,
    MODEL_KINDS,
    NEXT_ITEM,
    SEGMENTS,
    current_models,
    current_version,
)
from store.ingest import ingest
from store.sample import SAMPLE_FILES
from store.workspace import Workspace
from tests.conftest import SAMPLE, run_cli

TAOBAO = next(f for f in SAMPLE_FILES if f.source == "taobao")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the Taobao sample slice, trained (quick) and scored."""
    ws = tmp_path_factory.mktemp("pipeline") / "ws"
    ingest(TAOBAO.kind, SAMPLE / TAOBAO.relative_path, ws, source="taobao")
    done = run_cli("train", "-w", str(ws), "--source", "taobao", "--quick", "--epochs", "2",
                   "--json", timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["next_item"]["version"].startswith("next_item-")
    assert "skipped" not in result["intent"], result["intent"]
    assert "skipped" in result["churn"]  # 9 days of data cannot fill a 180-day horizon
    assert result["segments"]["k"] >= 2
    done = run_cli("score", "-w", str(ws), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    return ws


def test_user_scores_cover_every_user(trained: Path) -> None:
    con = Workspace.open(trained).connect()
    try:
        n_users = con.execute("SELECT count(DISTINCT user_id) FROM events").fetchone()[0]
        rows = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE len(top_items) = 10), count(intent_p_any),"
            " count(segment), count(DISTINCT model_version), min(intent_p_any),"
            " max(intent_p_any) FROM user_scores").fetchone()
        segments = con.execute("SELECT sum(n_users) FROM segments").fetchone()[0]
    finally:
        con.close()
    assert rows[0] == n_users == 120
    assert rows[1] == rows[2] == rows[3] == 120
    assert rows[4] == 1 and 0.0 <= rows[5] <= rows[6] <= 1.0
    assert segments == 120


def test_evaluate_reports_full_ranking_metrics(trained: Path) -> None:
    done = run_cli("evaluate", "-w", str(trained), "--source", "taobao", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    metrics = result["next_item"]
    assert set(metrics) == {"sasrec", "most_popular", "item_transition"}
    assert {"HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR"} <= set(metrics["sasrec"])
    # clickstream users return to what they viewed: their history stays rankable, and the
    # masked ranking is reported beside it
    assert result["protocol"]["history_masked"] is False
    assert result["protocol"]["repeat_share"] > 0.01
    assert set(result["next_item_other_protocol"]) == set(metrics)


def test_registry_names_the_current_model_of_each_kind(trained: Path) -> None:
    ws = Workspace.open(trained)
    cards = current_models(trained)
    assert [(c["source"], c["kind"]) for c in cards] == [
        ("taobao", NEXT_ITEM), ("taobao", INTENT), ("taobao", SEGMENTS)]  # churn was skipped
    for card in cards:
        assert current_version(ws, "taobao", card["kind"]) == card["meta"]["version"]
        assert card["meta"]["kind"] == card["kind"]
    assert current_version(ws, "taobao", CHURN) is None
    assert TrainRequest().kinds == MODEL_KINDS == (NEXT_ITEM, INTENT, CHURN, SEGMENTS)


def test_user_command_and_unknown_user(trained: Path) -> None:
    done = run_cli("user", "1", "-w", str(trained), "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["top_items"]) == 10
    done = run_cli("user", "no-such-user", "-w", str(trained))
    assert done.returncode == 2 and "unknown user 'no-such-user'" in done.stderr


def test_checkpoint_from_other_data_is_refused(trained: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    ingest("taobao", SAMPLE / TAOBAO.relative_path, other, source="taobao")
    extra = tmp_path / "extra.csv"
    extra.write_text("user_id,item_id,category_id,behavior_type,timestamp\n"
                     "1,2268318,2520377,pv,1511544071\n")
    ingest("taobao", extra, other, source="taobao")  # same source name, different data
    checkpoint = next((trained / "models" / "taobao" / "next_item").glob("next_item-*"))
    done = run_cli("score", "-w", str(other), "--source", "taobao", "--checkpoint",
                   str(checkpoint))
    assert done.returncode == 2
    assert "trained on different data" in done.stderr and "Traceback" not in done.stderr


def test_empty_workspace_and_unknown_source(tmp_path: Path, trained: Path) -> None:
    Workspace.open(tmp_path / "empty", create=True)
    done = run_cli("score", "-w", str(tmp_path / "empty"))
    assert done.returncode == 2 and "is empty" in done.stderr
    done = run_cli("train", "-w", str(trained), "--source", "nope")
    assert done.returncode == 2 and "unknown source 'nope'" in done.stderr
    done = run_cli("train", "-w", str(tmp_path / "missing"))
    assert done.returncode == 3 and "no workspace" in done.stderr


def test_untimed_source_cannot_train_intent(tmp_path: Path) -> None:
    beauty = next(f for f in SAMPLE_FILES if f.source == "beauty")
    ws = tmp_path / "ws"
    ingest(beauty.kind, SAMPLE / beauty.relative_path, ws, source="beauty")
    done = run_cli("train", "-w", str(ws), "--only", "intent")
    assert done.returncode == 2
    assert "beauty" in done.stderr and "Traceback" not in done.stderr
    shutil.rmtree(ws)
