"""Small-group suppression in operator answers: groups of fewer than `min_group_size` users are
hidden (and counted), single-row answers about that few users are withheld."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from assistant.analytics.compiler import compile_plan
from assistant.analytics.executor import run_plan
from assistant.analytics.plan import QueryPlan
from assistant.grounding import check_answer
from assistant.tools.ask import ask
from assistant.tools.chat import Privacy, chat
from assistant.tools.render import render_answer
from core.settings import get_settings
from insight.commands import tool_cmds
from tests.assistant.toolkit import FakeBackend, sample_con, sample_ws, scripted_server

__all__ = ["sample_con", "sample_ws"]

DAY = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)
PREVIOUS = dt.datetime(2024, 3, 3, 12, tzinfo=dt.UTC)


def _events() -> list[tuple]:
    """Purchases per category: big (6 buyers x 1), mid (5 x 1), tiny (2 buyers x 10 each, the
    most purchases), solo (1 buyer); crowd: 10 viewers, one of whom buys (1 purchaser)."""
    rows: list[tuple] = []

    def add(user: str, category: str, kind: str, n: int = 1, ts: dt.datetime = DAY,
            price: float = 10.0) -> None:
        rows.extend(("shop", user, f"{category}-item", kind, ts, price, category)
                    for _ in range(n))

    for i in range(6):
        add(f"b{i}", "big", "purchase")
    for i in range(5):
        add(f"m{i}", "mid", "purchase")
    for i in range(2):
        add(f"t{i}", "tiny", "purchase", n=10)
    add("s0", "solo", "purchase", n=3)
    for i in range(10):
        add(f"c{i}", "crowd", "view")
    add("c0", "crowd", "purchase", price=500.0)
    for i in range(2):  # mid had only 2 buyers in the week before
        add(f"m{i}", "mid", "purchase", ts=PREVIOUS)
    for i in range(6):
        add(f"b{i}", "big", "purchase", ts=PREVIOUS)
    return rows


@pytest.fixture
def shop() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory workspace-shaped database (views events, reviews, items)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE ev (source VARCHAR, user_id VARCHAR, item_id VARCHAR, "
                "event_type VARCHAR, ts TIMESTAMPTZ, price DOUBLE, category VARCHAR)")
    con.executemany("INSERT INTO ev VALUES (?, ?, ?, ?, ?, ?, ?)", _events())
    con.execute("CREATE VIEW events AS SELECT source, user_id, item_id, event_type, ts, "
                "CAST(NULL AS VARCHAR) AS session_id, price, CAST(NULL AS FLOAT) AS rating, "
                "category, CAST(NULL AS VARCHAR) AS brand FROM ev")
    con.execute("CREATE VIEW items AS SELECT DISTINCT source, item_id, category, "
                "CAST(NULL AS VARCHAR) AS brand FROM ev")
    con.execute("CREATE VIEW reviews AS SELECT source, user_id, item_id, ts, "
                "CAST(NULL AS FLOAT) AS rating FROM ev WHERE false")
    yield con
    con.close()


def _by_category(metric: str = "purchases", first: str = "2024-03-10",
                 **extra: object) -> QueryPlan:
    return QueryPlan.model_validate({"metrics": [metric], "group_by": ["category"],
                                     "filters": {"date_from": first, "date_to": "2024-03-10"},
                                     **extra})


def test_small_groups_are_hidden_and_counted(shop: duckdb.DuckDBPyConnection) -> None:
    plan = _by_category()
    open_result = run_plan(shop, plan, min_group_size=1)
    assert open_result.rows[0]["category"] == "tiny"  # 20 purchases by 2 users: top unhidden
    result = run_plan(shop, plan, min_group_size=5)
    shown = {row["category"] for row in result.rows}
    assert shown == {"big", "mid"}  # tiny (2 buyers), solo (1), crowd (1 purchaser) hidden
    assert result.hidden_groups == 3 and result.answerable
    assert all("group_users" not in row for row in result.rows)
    answer = render_answer(result)
    assert "3 groups with fewer than 5 users are hidden" in answer
    assert "tiny" not in answer and "solo" not in answer and "(20)" not in answer
    assert check_answer(answer, result.to_dict()).ok


def test_threshold_is_a_bound_parameter(shop: duckdb.DuckDBPyConnection) -> None:
    compiled = compile_plan(_by_category(), has_scores=False, min_group_size=7)
    assert "7" not in compiled.sql and compiled.params.count(7) == 2
    assert "group_users" in compiled.sql and "hidden_groups" in compiled.sql
    assert run_plan(shop, _by_category(), min_group_size=6).hidden_groups == 4  # mid too


def test_users_counted_are_those_the_metric_describes(shop: duckdb.DuckDBPyConnection) -> None:
    """crowd has 10 users but one purchaser: its revenue is one person's spending."""
    result = run_plan(shop, _by_category("revenue"), min_group_size=5)
    assert "crowd" not in {row["category"] for row in result.rows}
    assert not any(row["revenue"] == 500.0 for row in result.rows)
    assert "crowd" in {r["category"] for r in run_plan(shop, _by_category("events"),
                                                        min_group_size=5).rows}


def test_several_metrics_count_their_smallest_population(
        shop: duckdb.DuckDBPyConnection) -> None:
    """window: 2 viewers, no purchaser; its views describe those 2 (0 purchasers hide none)."""
    shop.executemany("INSERT INTO ev VALUES ('shop', ?, 'w', 'view', ?, NULL, 'window')",
                     [["w1", DAY], ["w2", DAY]])
    plan = _by_category("views", descending=False).model_copy(
        update={"metrics": ["views", "purchases"]})
    assert "window" in {r["category"] for r in run_plan(shop, plan, min_group_size=1).rows}
    rows = run_plan(shop, plan, min_group_size=2).rows  # crowd: 10 viewers, 1 purchaser
    assert {r["category"] for r in rows} == {"window", "big", "mid", "tiny"}
    assert "window" not in {r["category"] for r in run_plan(shop, plan, min_group_size=5).rows}


def test_single_row_about_few_users_is_withheld(shop: duckdb.DuckDBPyConnection) -> None:
    plan = QueryPlan.model_validate({"metrics": ["purchases"],
                                     "filters": {"category": ["tiny"]}})
    assert run_plan(shop, plan, min_group_size=1).rows == [{"purchases": 20}]
    result = run_plan(shop, plan, min_group_size=5)
    assert not result.answerable and result.rows == [] and result.columns == []
    assert "fewer than 5 users" in (result.reason or "")
    big = QueryPlan.model_validate({"metrics": ["purchases"], "filters": {"category": ["big"]}})
    assert run_plan(shop, big, min_group_size=5).rows == [{"purchases": 12}]


def test_every_group_hidden_says_why(shop: duckdb.DuckDBPyConnection) -> None:
    plan = _by_category()
    result = run_plan(shop, plan.model_copy(update={"filters": plan.filters.model_copy(
        update={"category": ["tiny", "solo"]})}), min_group_size=5)
    assert not result.answerable and result.rows == []
    assert result.reason == ("all 2 groups have fewer than 5 users, so they are hidden to "
                             "protect their privacy")


def test_groups_without_users_never_top_a_ranking(shop: duckdb.DuckDBPyConnection) -> None:
    """Only viewers in `crowd`... but one purchase: a view-only group has 0 purchasers."""
    shop.execute("INSERT INTO ev VALUES ('shop', 'v1', 'x', 'view', ?, NULL, 'window')", [DAY])
    plan = _by_category()
    descending = run_plan(shop, plan, min_group_size=5)
    assert "window" not in {row["category"] for row in descending.rows}
    ascending = run_plan(shop, plan.model_copy(update={"descending": False}), min_group_size=5)
    assert ascending.rows[0] == {"category": "window", "purchases": 0}  # describes nobody


def test_comparison_hides_groups_small_in_either_period(shop: duckdb.DuckDBPyConnection) -> None:
    plan = _by_category(first="2024-03-04", compare_previous_period=True)  # vs the week before
    open_rows = {r["category"] for r in run_plan(shop, plan, min_group_size=1).rows}
    assert {"mid", "big", "tiny"} <= open_rows
    result = run_plan(shop, plan, min_group_size=5)
    assert {r["category"] for r in result.rows} == {"big"}  # mid had 2 buyers before
    assert result.hidden_groups == 4
    assert "4 groups with fewer than 5 users are hidden" in render_answer(result)
    total = QueryPlan.model_validate({"metrics": ["purchases"], "compare_previous_period": True,
                                      "filters": {"category": ["mid"], "date_from": "2024-03-04",
                                                  "date_to": "2024-03-10"}})
    assert not run_plan(shop, total, min_group_size=5).answerable


def test_ask_hides_small_groups_by_default(sample_con: duckdb.DuckDBPyConnection) -> None:
    question = "Which category has the most favourite events in taobao?"
    open_answer = ask(question, sample_con, None, min_group_size=1)
    top = open_answer.rows[0]["category"]
    default = ask(question, sample_con, None)
    assert default.answerable and default.privacy["min_group_size"] == 5
    assert default.privacy["hidden_groups"] > 0
    assert f"{default.privacy['hidden_groups']} groups with fewer than 5 users are hidden" \
        in default.answer
    assert str(top) not in default.answer  # the unsuppressed top category had < 5 users
    assert all(str(top) != str(row["category"]) for row in default.rows)
    assert default.grounding["ok"]


def test_chat_passes_the_threshold_to_ask(sample_con: duckdb.DuckDBPyConnection) -> None:
    draft = json.dumps({"metric": "purchases", "source": "taobao"})
    with scripted_server(lambda request: draft) as server:
        backend = FakeBackend(server.url)
        events = list(chat([], "How many purchases were made in taobao?", con=sample_con,
                           backend=backend, privacy=Privacy(min_group_size=10**6)))
        shown = list(chat([], "How many purchases were made in taobao?", con=sample_con,
                          backend=backend))
    answer = next(e for e in events if e.type == "answer").data
    assert "fewer than 1000000 users" in answer["text"] and "245" not in answer["text"]
    assert "245" in next(e for e in shown if e.type == "answer").data["text"]


@pytest.fixture
def cli_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """The tool commands with the LLM pointed at a scripted server (`INSIGHT_…` settings)."""
    application = typer.Typer(pretty_exceptions_enable=False)
    tool_cmds.register(application)
    draft = json.dumps({"metric": "purchases", "source": "taobao"})
    with scripted_server(lambda request: draft) as server:
        monkeypatch.setenv("INSIGHT_LLM__BACKEND", "openai-compatible")
        monkeypatch.setenv("INSIGHT_LLM__BASE_URL", server.url)
        monkeypatch.setenv("INSIGHT_LLM__MAX_RETRIES", "0")
        get_settings.cache_clear()
        yield application
    get_settings.cache_clear()


def test_cli_ask_takes_the_threshold_from_settings(cli_app: typer.Typer, sample_ws: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["ask", "How many purchases were made in taobao?", "-w", str(sample_ws), "--json"]
    shown = json.loads(CliRunner().invoke(cli_app, args).stdout)
    assert shown["rows"] == [{"purchases": 245}] and shown["privacy"]["min_group_size"] == 5
    monkeypatch.setenv("INSIGHT_PRIVACY__MIN_GROUP_SIZE", "100000")
    get_settings.cache_clear()
    withheld = json.loads(CliRunner().invoke(cli_app, args).stdout)
    assert not withheld["answerable"] and withheld["rows"] == []
    assert "fewer than 100000 users" in withheld["answer"]
