"""The Ray engine scores like the in-process one: same users, same top items, same table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import InputError
from predictors.pipeline import score_sources
from store.workspace import Workspace
from tests.ray_support import local_ray  # noqa: F401 - the fixture

pytest.importorskip("ray")


def _scores(root: Path) -> dict[str, tuple]:
    con = Workspace.open(root).connect()
    try:
        rows = con.execute("SELECT user_id, top_items, top_scores, intent_p_any, churn_risk, "
                           "segment, n_events FROM user_scores WHERE source = 'taobao' "
                           "ORDER BY user_id").fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_matches_in_process(audience_ws: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(audience_ws.root, root)
    local = score_sources(root, ["taobao"], engine="local")
    expected = _scores(root)
    distributed = score_sources(root, ["taobao"], engine="ray", workers=2, batch_size=16)
    got = _scores(root)
    assert distributed["taobao"]["users"] == local["taobao"]["users"] == len(expected) > 0
    assert set(distributed["taobao"]) == set(local["taobao"])  # the same --json shape
    assert distributed["taobao"]["model_version"] == local["taobao"]["model_version"]
    assert got.keys() == expected.keys()
    for user, (items, scores, intent, churn, segment, n_events) in expected.items():
        r_items, r_scores, r_intent, r_churn, r_segment, r_events = got[user]
        assert r_items == items, user
        assert r_scores == pytest.approx(scores, abs=1e-5)
        assert (r_intent, r_churn, r_segment, r_events) == (intent, churn, segment, n_events)


@pytest.mark.usefixtures("local_ray")
def test_too_many_workers_is_refused(audience_ws: Workspace) -> None:
    with pytest.raises(InputError, match="--workers 64"):
        score_sources(audience_ws.root, ["taobao"], engine="ray", workers=64)


def test_unknown_engine_is_refused(audience_ws: Workspace) -> None:
    with pytest.raises(InputError, match="unknown engine 'spark'"):
        score_sources(audience_ws.root, ["taobao"], engine="spark")
