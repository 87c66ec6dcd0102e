"""The Marketing tab's audience step without a browser: choices, options, table, masking, CSV,
errors and the copy hand-off, on the bundled Taobao sample trained as the audience tests do."""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.errors import InputError
from core.settings import Settings
from predictors.audience import (
    Audience,
    AudienceOptions,
    AudienceTarget,
    AudienceUser,
    band_names,
)
from predictors.audience_scores import resolve_target
from store.ingest import ingest
from store.sample import SAMPLE_DIR
from tests.predictors.conftest import TAOBAO, train_sample_models
from ui import audience_view as av
from ui import data
from ui.access import NO_ROLE, PSEUDONYM, Pseudonyms, role_access
from ui.context import AppContext

CATEGORY = "4756105"  # the sample's second busiest category (tests/predictors/test_audience.py)
FAST = {"backtest_epochs": 2}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> AppContext:
    """An app context over the trained sample (next-item, intent, churn, segments, scores)."""
    root = train_sample_models(tmp_path_factory.mktemp("audview") / "ws")
    return AppContext(root=root, settings=Settings(), backend=None)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> AppContext:
    """The sample ingested but never trained: no model for any target."""
    root = tmp_path_factory.mktemp("audview-bare") / "ws"
    ingest(TAOBAO.kind, SAMPLE_DIR / TAOBAO.relative_path, root, source="taobao")
    return AppContext(root=root, settings=Settings(), backend=None)


@pytest.fixture(scope="module")
def audience(ctx: AppContext) -> Audience:
    """The top 25 users for the busy category, as the Build button builds it."""
    return av.make_audience(ctx, "taobao", "category", CATEGORY,
                            AudienceOptions(size=25, **FAST))


def _access(role: str) -> Any:
    return role_access(Settings(), role, pseudonyms=Pseudonyms(b"k" * 32))


def _csv(path: Path | str) -> list[list[str]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _records(path: Path | str) -> list[dict[str, str]]:
    head, *rows = _csv(path)
    return [dict(zip(head, r, strict=True)) for r in rows]


def _sql(ctx: AppContext, query: str, params: list[Any]) -> pd.DataFrame:
    with ctx.connect() as con:
        return con.execute(query, params).df()


def test_target_choices_are_the_sources_values(ctx: AppContext) -> None:
    with ctx.connect() as con:
        items = av.target_choices(con, ctx.root, "taobao", "item")
        categories = av.target_choices(con, ctx.root, "taobao", "category")
        brands = av.target_choices(con, ctx.root, "taobao", "brand")
        goals = av.target_choices(con, ctx.root, "taobao", "goal")
        assert items == data.popular_items(con, "taobao", av.MAX_CHOICES)
    counts = _sql(ctx, "SELECT category, count(*) n FROM events WHERE source = 'taobao' "
                       "GROUP BY 1", []).set_index("category")["n"]
    shown = [int(counts[v]) for _, v in categories]
    assert len(categories) == min(av.MAX_CHOICES, len(counts))
    assert shown[0] == counts.max() and shown == sorted(shown, reverse=True)
    assert f"({counts.max():,} events)" in categories[0][0]
    assert brands == []  # the Taobao sample has no brands
    assert [v for _, v in goals] == ["winback", "convert-carts"]


def test_goals_need_their_models(bare: AppContext) -> None:
    assert av.source_goals(bare.root, "taobao") == []
    assert av.target_choices(None, bare.root, None, "item") == []  # type: ignore[arg-type]


def test_options_from_the_form() -> None:
    options = av.make_options(40, "taobao/2", "", "high", 3, True)
    assert (options.size, options.segment, options.churn_band, options.intent_band,
            options.active_within_days, options.exclude_buyers) == (40, 2, None, "high", 3.0,
                                                                    True)
    blank = av.make_options(None, "", None, None, 0, False)
    assert (blank.size, blank.segment, blank.active_within_days) == (None, None, None)
    for args, message in [((0, "", "", "", None, False), "size must be at least 1"),
                          (("many", "", "", "", None, False), "size must be a number"),
                          ((2.5, "", "", "", None, False), "size must be a whole number"),
                          ((10, "", "sky-high", "", None, False), "bad churn band"),
                          ((10, "", "", "", "soon", False), "must be a number")]:
        with pytest.raises(InputError, match=message):
            av.make_options(*args)


def test_table_masks_ids_and_keeps_the_ranking(ctx: AppContext, audience: Audience) -> None:
    masked, admin = _access("operator"), _access("admin")
    table = av.user_rows(audience, masked)
    assert len(table) == len(audience.users) == 25
    assert table["#"].tolist() == list(range(1, 26))
    assert all(PSEUDONYM.fullmatch(u) for u in table["user"])
    # each pseudonym resolves to the real user at the same rank
    assert [masked.pseudonyms.resolve("taobao", u)[1] for u in table["user"]] == \
        [u.user_id for u in audience.users]
    assert table["probability"].is_monotonic_decreasing
    assert av.user_rows(audience, admin)["user"].tolist() == [u.user_id for u in audience.users]
    segments = _sql(ctx, "SELECT user_id, segment FROM user_scores WHERE source = 'taobao'",
                    []).set_index("user_id")["segment"]
    assert table["segment"].tolist() == [str(segments[u.user_id]) for u in audience.users]
    assert set(table["intent band"]) <= {"low", "medium", "high"}


def test_summary_states_the_librarys_figures(audience: Audience) -> None:
    bt = audience.backtest
    assert bt is not None and bt.lift is not None
    text = html.unescape(av.summary_html(audience))
    assert f"{audience.expected_conversions:.1f}" in text
    assert f"{bt.precision_at_k:.3f} (K = {bt.k})" in text
    assert f"lift of {bt.lift:.2f}× over a random pick" in text
    d = bt.to_dict()
    for name in ("recent_viewers", "popularity"):
        value = d[f"lift_vs_{name}"]
        assert ("n/a" if value is None else f"{value:.2f}×") in text
    assert f"{bt.hits} ({bt.precision_at_k:.1%}" in text
    assert "No backtest" in av.backtest_sentence(None)


def test_csv_is_masked_and_neutralised(tmp_path: Path, audience: Audience) -> None:
    operator = _access("operator")
    path = av.export_audience_csv(audience, tmp_path, operator)
    assert path.parent == tmp_path and path.name.startswith("audience-")
    rows = _records(path)
    assert [r["user_id"] for r in rows] == av.user_rows(audience, operator)["user"].tolist()
    assert [float(r["probability"]) for r in rows] == [u.probability for u in audience.users]
    with pytest.raises(InputError, match="may not export"):
        av.export_audience_csv(audience, tmp_path, _access(NO_ROLE))
    hostile = Audience(
        source="x", target=AudienceTarget("item", "1"), outcome="o", horizon="1 day",
        model_version="v", eligible_users=3, expected_conversions=1.0, calibration={},
        backtest=None,
        users=[AudienceUser("=HYPERLINK(\"http://x\")", 0.5, 0.1, last_active="+1"),
               AudienceUser("@SUM(A1)", 0.4, 0.1, intent_band="-3"),
               AudienceUser(" =1+1", 0.3, 0.1)])
    cells = _csv(av.export_audience_csv(hostile, tmp_path, _access("admin")))
    assert cells[1][0] == "'=HYPERLINK(\"http://x\")" and cells[1][7] == "'+1"
    assert cells[2][0] == "'@SUM(A1)" and cells[2][3] == "'-3"
    assert cells[3][0] == "' =1+1" and cells[1][1] == "0.5"


def test_build_step_for_each_role(ctx: AppContext, tmp_path: Path) -> None:
    form = ("taobao", "category", CATEGORY, 10, "", "", "", None, False)
    summary, table, file, built = av.build_step(ctx, tmp_path, _access("operator"), *form)
    assert len(table) == 10 == len(built.users) and file["visible"]
    rows = _records(file["value"])
    assert [r["user_id"] for r in rows] == table["user"].tolist()
    assert "lift of" in summary
    summary, table, file, _ = av.build_step(ctx, tmp_path, _access(NO_ROLE), *form)
    assert not file["visible"] and file["value"] is None and "not available" in summary
    assert all(PSEUDONYM.fullmatch(u) for u in table["user"])


@pytest.mark.parametrize(("form", "message"), [
    (("taobao", "item", "no-such-item"), "unknown item 'no-such-item' in source 'taobao'"),
    (("nowhere", "item", "1"), "nowhere"),
    (("taobao", "category", ""), "pick or type a category"),
    (("taobao", "goal", "world-peace"), "unknown goal 'world-peace'"),
    ((None, "item", "1"), "pick a source"),
])
def test_bad_input_shows_the_librarys_error(ctx: AppContext, tmp_path: Path,
                                            form: tuple[Any, ...], message: str) -> None:
    summary, table, file, built = av.build_step(ctx, tmp_path, _access("operator"), *form,
                                                10, "", "", "", None, False)
    assert "bi-error" in summary and message in html.unescape(summary)
    assert table.empty and built is None and not file["visible"]


def test_missing_models_are_named(bare: AppContext, tmp_path: Path) -> None:
    summary = av.build_step(bare, tmp_path, _access("operator"), "taobao", "goal", "winback",
                            10, "", "", "", None, False)[0]
    assert "goal 'winback' needs a churn model" in html.unescape(summary)
    summary = av.build_step(bare, tmp_path, _access("operator"), "taobao", "category",
                            CATEGORY, 10, "", "", "", None, False)[0]
    assert "no trained next_item model for source 'taobao'" in html.unescape(summary)


def test_copy_targets_the_dominant_segment_and_the_audiences_item(
        ctx: AppContext, audience: Audience, tmp_path: Path) -> None:
    segment, members = av.dominant_segment(audience)
    counts = pd.Series([u.segment for u in audience.users]).value_counts()
    assert members == counts.max() and segment == min(counts[counts == counts.max()].index)
    with ctx.connect() as con:
        item, why = av.copy_item(con, audience)
        items = resolve_target(con, "taobao", AudienceTarget("category", CATEGORY)).items
    events = _sql(ctx, "SELECT user_id, item_id FROM events WHERE source = 'taobao'", [])
    mine = events[events["user_id"].isin([u.user_id for u in audience.users])
                  & events["item_id"].isin(items)]
    top = mine["item_id"].value_counts()
    assert item in items and top[item] == top.max() and "touched most" in why
    calls: list[tuple[Any, ...]] = []

    def generate(*args: Any) -> Any:  # records the hand-off to the Marketing tab's generator
        calls.append(args[3:])
        yield "<div>cards</div>", "/tmp/copy.csv"

    out = list(av.copy_step(ctx, tmp_path, _access("operator"), audience, "push", "calm", 2,
                            generate))
    assert calls == [("segment", f"taobao/{segment}", None, item, "push", "calm", 2)]
    assert f"aimed at segment {segment}" in out[-1][0] and out[-1][0].endswith("cards</div>")
    assert out[-1][1]["visible"]


def test_copy_errors(ctx: AppContext, tmp_path: Path) -> None:
    first = next(av.copy_step(ctx, tmp_path, _access("operator"), None, "email", "calm", 1,
                              None))
    assert "build an audience first" in first[0]
    nosegment = Audience(
        source="taobao", target=AudienceTarget("goal", "winback"), outcome="o",
        horizon="1 day", model_version="v", eligible_users=1, expected_conversions=0.1,
        calibration={}, backtest=None, users=[AudienceUser("1", 0.1, 0.1)])
    with pytest.raises(InputError, match="no segment"):
        av.dominant_segment(nosegment)
    with ctx.connect() as con:
        assert av.copy_item(con, Audience(**{**nosegment.__dict__,
                                             "target": AudienceTarget("item", "42")}))[0] == "42"


def test_bands_shown_are_the_band_filters(ctx: AppContext) -> None:
    assert band_names(pd.Series([0.9, 0.1, 0.5, None])).tolist() == ["high", "low", "medium",
                                                                      None]
    for band in ("high", "low"):
        chosen = av.make_audience(ctx, "taobao", "category", CATEGORY, AudienceOptions(
            size=None, intent_band=band, backtest=False))
        assert chosen.users and {u.intent_band for u in chosen.users} == {band}
        table = av.user_rows(chosen, _access("admin"))
        assert set(table["intent band"]) == {band}
