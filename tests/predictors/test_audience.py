"""The audience builder on the bundled Taobao sample: ranking, filters, goals, errors, backtest."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from predictors.audience import Audience, AudienceOptions, AudienceTarget, build_audience
from predictors.audience_backtest import Baseline, evaluate_ranking, fit_calibration
from predictors.audience_scores import histories, target_mass
from predictors.next_item import load_next_item
from store.readers import UserSequences
from store.workspace import Workspace

CATEGORY = "4756105"  # the sample's second busiest category: users view it every day
FAST = {"backtest_epochs": 2}


@pytest.fixture(scope="module")
def ws(audience_ws: Workspace) -> Workspace:
    """The trained sample workspace (tests/predictors/conftest.py)."""
    return audience_ws


@pytest.fixture(scope="module")
def category_audience(ws: Workspace) -> Audience:
    """The top 30 users for the busy category, backtested."""
    return build_audience(ws, "taobao", AudienceTarget("category", CATEGORY),
                          AudienceOptions(size=30, **FAST))


def _sql(ws: Workspace, query: str, params: list[object]) -> list[tuple[object, ...]]:
    con = ws.connect()
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def test_backtest_figures_are_computed_and_consistent(category_audience: Audience) -> None:
    bt = category_audience.backtest
    assert bt is not None
    d = bt.to_dict()
    assert d["k"] == len(category_audience.users) == 30
    assert 0.0 <= d["precision_at_k"] <= 1.0 and d["hits"] == round(d["precision_at_k"] * 30)
    assert d["positives"] > 0 and 0.0 < d["base_rate"] < 1.0
    assert isinstance(d["lift"], float) and math.isfinite(d["lift"])
    assert d["lift"] == pytest.approx(d["precision_at_k"] / d["base_rate"])
    for name in ("recent_viewers", "popularity"):
        assert f"lift_vs_{name}" in d and 0.0 <= d[f"precision_{name}"] <= 1.0
        if d[f"precision_{name}"] > 0:
            assert d[f"lift_vs_{name}"] == pytest.approx(
                d["precision_at_k"] / d[f"precision_{name}"])
    # the test window is the last day; calibration was fitted one horizon earlier
    assert d["cutoff"].startswith("2017-12-02T15:59") and bt.horizon == "1 day"
    assert d["calibration_cutoff"].startswith("2017-12-01T15:59")
    assert category_audience.calibration["method"] == "platt+covariates"
    assert category_audience.calibration["positives"] > 0
    assert {"mass", "intent", "activity"} <= set(category_audience.calibration["features"])


def test_positives_are_the_users_who_touched_the_category_after_the_cut(
        ws: Workspace, category_audience: Audience) -> None:
    bt = category_audience.backtest
    assert bt is not None
    rows = _sql(ws, "SELECT count(DISTINCT user_id) FROM events WHERE source = 'taobao' AND "
                    "category = ? AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ + INTERVAL 1 DAY"
                    " AND user_id IN (SELECT user_id FROM events WHERE source = 'taobao' AND "
                    "ts < ?::TIMESTAMPTZ)", [CATEGORY, bt.cutoff, bt.cutoff, bt.cutoff])
    assert bt.positives == rows[0][0]


def test_users_are_ranked_by_probability(category_audience: Audience) -> None:
    p = [u.probability for u in category_audience.users]
    assert p == sorted(p, reverse=True) and all(0.0 <= x <= 1.0 for x in p)
    assert len({u.user_id for u in category_audience.users}) == len(p)
    assert category_audience.expected_conversions == pytest.approx(sum(p))
    assert category_audience.to_dict()["users"][0].keys() >= {"user_id", "probability"}


def test_target_mass_is_the_softmax_summed_over_the_target_items(ws: Workspace) -> None:
    model = load_next_item(ws, "taobao")
    con = ws.connect()
    try:
        h = histories(con, "taobao", None)
    finally:
        con.close()
    items = model.items.decode([1, 2, 3, 4, 5])
    mass = target_mass(model, h.sequences, items)
    inputs, types = model.encode(h.sequences)
    ids, scores, _ = model.recommend(inputs[:3], types[:3] if types else None,
                                     k=len(model.items))
    for row in range(3):
        expected = sum(s for i, s in zip(ids[row], scores[row], strict=True) if i in items)
        assert mass[row] == pytest.approx(expected, abs=1e-5)
    assert float(np.nanmax(mass)) < 1.0
    # a checkpoint whose repeat rule leaves a user's own items out does so here too
    model.meta = {**model.meta, "mask_seen": True}
    masked = target_mass(model, h.sequences, items)
    ids, scores, _ = model.recommend(inputs[:3], types[:3] if types else None,
                                     k=len(model.items))
    for row in range(3):
        expected = sum(s for i, s in zip(ids[row], scores[row], strict=True) if i in items)
        assert masked[row] == pytest.approx(expected, abs=1e-5)
        own = model.items.decode(inputs[row][-1:])
        one = UserSequences(h.sequences.source, h.sequences.user_ids[row:row + 1],
                            h.sequences.items[row:row + 1],
                            h.sequences.event_types[row:row + 1])
        assert target_mass(model, one, own)[0] == 0.0


def test_size_and_threshold(ws: Workspace, category_audience: Audience) -> None:
    p = [u.probability for u in category_audience.users]
    cut = p[len(p) // 2]
    small = build_audience(ws, "taobao", AudienceTarget("category", CATEGORY),
                           AudienceOptions(size=None, threshold=cut, **FAST))
    assert small.users and all(u.probability >= cut for u in small.users)
    assert {u.user_id for u in category_audience.users[: len(p) // 2]} <= {
        u.user_id for u in small.users}
    top5 = build_audience(ws, "taobao", AudienceTarget("category", CATEGORY),
                          AudienceOptions(size=5, backtest=True, **FAST))
    assert [u.user_id for u in top5.users] == [u.user_id for u in category_audience.users[:5]]


def test_filters(ws: Workspace) -> None:
    target = AudienceTarget("category", CATEGORY)
    segment = build_audience(ws, "taobao", target,
                             AudienceOptions(size=500, segment=1, backtest=False))
    expected = {r[0] for r in _sql(ws, "SELECT user_id FROM user_scores WHERE source = "
                                       "'taobao' AND segment = 1", [])}
    assert segment.users and {u.user_id for u in segment.users} <= expected
    assert all(u.segment == 1 for u in segment.users)

    last = pd.Timestamp(_sql(ws, "SELECT max(ts) FROM events WHERE source = 'taobao'", [])[0][0])
    recent = build_audience(ws, "taobao", target,
                            AudienceOptions(size=500, active_within_days=0.5, backtest=False))
    assert recent.users and len(recent.users) < 120
    assert all(last - pd.Timestamp(u.last_active) <= pd.Timedelta(hours=12)
               for u in recent.users)

    buyers = {r[0] for r in _sql(ws, "SELECT DISTINCT user_id FROM events WHERE source = "
                                     "'taobao' AND category = ? AND event_type = 'purchase' AND "
                                     "ts >= (SELECT max(ts) FROM events WHERE source = 'taobao') "
                                     "- INTERVAL 30 DAY", [CATEGORY])}
    assert buyers
    kept = build_audience(ws, "taobao", target,
                          AudienceOptions(size=500, exclude_buyers=True, backtest=False))
    assert not buyers & {u.user_id for u in kept.users}
    assert len(kept.users) == 120 - len(buyers)

    high = build_audience(ws, "taobao", target,
                          AudienceOptions(size=500, intent_band="high", backtest=False))
    low = build_audience(ws, "taobao", target,
                         AudienceOptions(size=500, intent_band="low", backtest=False))
    assert high.users and low.users
    assert min(u.intent for u in high.users) > max(u.intent for u in low.users)  # type: ignore
    ranged = build_audience(ws, "taobao", target,
                            AudienceOptions(size=500, churn_band="0-0.02", backtest=False))
    assert all(u.churn is not None and u.churn <= 0.02 for u in ranged.users)


def test_goal_convert_carts_lists_only_open_carts(ws: Workspace) -> None:
    audience = build_audience(ws, "taobao", AudienceTarget("goal", "convert-carts"),
                              AudienceOptions(size=500, **FAST))
    open_carts = {r[0] for r in _sql(ws, """
        SELECT DISTINCT c.user_id FROM events c WHERE c.source = 'taobao'
          AND c.event_type = 'cart' AND NOT EXISTS (
            SELECT 1 FROM events b WHERE b.source = 'taobao' AND b.event_type = 'purchase'
              AND b.user_id = c.user_id AND b.item_id = c.item_id AND b.ts >= c.ts)""", [])}
    assert audience.users and {u.user_id for u in audience.users} <= open_carts
    assert audience.calibration["method"] == "model" and "intent" in audience.model_version
    assert audience.backtest is not None and audience.backtest.eligible_users > 0
    assert 0.0 <= audience.backtest.precision_at_k <= 1.0


def test_goal_winback_uses_the_churn_model(ws: Workspace) -> None:
    audience = build_audience(ws, "taobao", AudienceTarget("goal", "winback"),
                              AudienceOptions(size=10, **FAST))
    assert "churn" in audience.model_version and len(audience.users) == 10
    assert all(u.churn == pytest.approx(u.probability, abs=1e-6) for u in audience.users)
    assert audience.backtest is not None
    assert audience.backtest.to_dict()["baselines"]["recent_viewers"]["description"].startswith(
        "recency")


@pytest.mark.parametrize(("kind", "value", "message"), [
    ("item", "no-such-item", "unknown item 'no-such-item' in source 'taobao'"),
    ("category", "Gadgets", "unknown category 'Gadgets' in source 'taobao'"),
    ("brand", "acme", "unknown brand 'acme' in source 'taobao'"),
    ("goal", "upsell", "unknown goal 'upsell'"),
])
def test_unknown_targets_are_named(ws: Workspace, kind: str, value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_audience(ws, "taobao", AudienceTarget(kind, value), AudienceOptions(backtest=False))


def test_unknown_source_and_bad_options(ws: Workspace) -> None:
    with pytest.raises(InputError, match="unknown source 'nope'"):
        build_audience(ws, "nope", AudienceTarget("item", "1"))
    with pytest.raises(InputError, match="threshold"):
        build_audience(ws, "taobao", AudienceTarget("category", CATEGORY),
                       AudienceOptions(threshold=1.5))
    with pytest.raises(InputError, match="unknown signal.*clicks"):
        build_audience(ws, "taobao", AudienceTarget("category", CATEGORY),
                       AudienceOptions(signals=("intent", "clicks")))
    with pytest.raises(InputError, match="intent band 'hot'"):
        build_audience(ws, "taobao", AudienceTarget("category", CATEGORY),
                       AudienceOptions(intent_band="hot"))


def test_evaluate_ranking_counts_by_hand() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.05, 0.01])
    y = np.array([1, 0, 1, 0, 0, 1])
    recent = Baseline("recent_viewers", "", np.array([0, 0, 0, 3, 2, 1]))
    popular = Baseline("popularity", "", np.array([5, 0, 0, 0, 0, 9]))
    bt = evaluate_ranking(p, y, 2, [recent, popular], cutoff="c", horizon="h", outcome="o",
                          model="m")
    d = bt.to_dict()
    assert (d["hits"], d["precision_at_k"], d["base_rate"]) == (1, 0.5, 0.5)
    assert d["lift"] == pytest.approx(1.0)
    assert d["precision_recent_viewers"] == 0.0 and d["lift_vs_recent_viewers"] is None
    assert d["precision_popularity"] == 1.0 and d["lift_vs_popularity"] == pytest.approx(0.5)
    assert d["expected_conversions"] == pytest.approx(1.7)


def test_calibration_needs_both_outcomes() -> None:
    frame = pd.DataFrame({"mass": [0.1, 0.2, 0.3]})
    cal = fit_calibration(frame, np.zeros(3, dtype=int), "c", ["mass"])
    assert cal.method == "none" and "0 of 3" in cal.note
    assert list(cal.predict(frame)) == [0.1, 0.2, 0.3]
    rng = np.random.default_rng(0)
    mass = rng.random(400) * 0.2
    y = (rng.random(400) < mass * 3).astype(int)
    cal = fit_calibration(pd.DataFrame({"mass": mass}), y, "c", ["mass"])
    assert cal.method == "platt"
    p = cal.predict(pd.DataFrame({"mass": np.sort(mass)}))
    assert np.all(np.diff(p) >= 0) and abs(p.mean() - y.mean()) < 0.05
    frame = pd.DataFrame({"mass": mass, "activity": (mass * 50).round(), "recent_touch": 0.0})
    cal = fit_calibration(frame, y, "c", ["mass", "activity", "recent_touch"])
    assert cal.method == "platt+covariates" and cal.features == ["mass", "activity"]
    assert cal.predict(frame).shape == (400,)
