"""The analytics path against injection: every plan field, validation, read-only execution."""

from __future__ import annotations

import duckdb
import pytest
from pydantic import ValidationError

from assistant.analytics.compiler import compile_plan
from assistant.analytics.executor import run_plan
from assistant.analytics.plan import QueryPlan
from assistant.tools.ask import ask
from tests.assistant.toolkit import FakeBackend, sample_con, sample_ws, scripted_server

__all__ = ["sample_con", "sample_ws"]

HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE events; --",
    "\"); DELETE FROM items; --",
    "electronics.smartphone' UNION SELECT * FROM reviews --",
    "ünïcödé 🛒 ' \\ %_",
    "a" * 200,
]


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                 for t in ("events", "items", "reviews"))


@pytest.mark.parametrize("field", ["source", "category", "brand", "item_id"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_are_bound_as_data(sample_con: duckdb.DuckDBPyConnection, field: str,
                                           value: str) -> None:
    before = _counts(sample_con)
    plan = QueryPlan(metrics=["events"], filters={field: [value]}, group_by=["source"])
    compiled = compile_plan(plan, has_scores=True)
    assert value not in compiled.sql  # never spliced into the SQL text
    assert [value] in compiled.params
    result = run_plan(sample_con, plan)
    assert result.rows == [] and not result.answerable  # matched nothing, broke nothing
    assert _counts(sample_con) == before


@pytest.mark.parametrize("filters", [
    {"source": ["a" * 201]},
    {"category": ["bad\x00value"]},
    {"brand": ["x"] * 51},
    {"segment": ["1; DROP TABLE events"]},
    {"min_intent": 5.0},
    {"min_churn": -1},
    {"date_from": "2017-13-45"},
    {"date_from": "2017-12-03", "date_to": "2017-12-01"},
    {"event_type": ["view'; DROP TABLE events; --"]},
    {"unknown_field": "x"},
])
def test_invalid_filters_are_rejected(filters: dict) -> None:
    with pytest.raises(ValidationError):
        QueryPlan(metrics=["events"], filters=filters)


@pytest.mark.parametrize("plan", [
    {"metrics": ["events; DROP TABLE events"]},
    {"metrics": ["events"], "group_by": ["source; DROP TABLE events"]},
    {"metrics": ["events"], "order_by": "1; DROP TABLE events"},
    {"metrics": ["events"], "limit": 10**12},
    {"metrics": ["events"], "limit": 0},
    {"metrics": ["events"], "group_by": ["source"], "descending": "DESC; DROP"},
    {"metrics": []},
    {"metrics": ["events"], "sql": "SELECT 1"},
])
def test_invalid_plans_are_rejected(plan: dict) -> None:
    with pytest.raises(ValidationError):
        QueryPlan.model_validate(plan)


def test_huge_segment_number_is_bound(sample_con: duckdb.DuckDBPyConnection) -> None:
    plan = QueryPlan(metrics=["segment_size"], filters={"segment": [2**31 - 1]})
    result = run_plan(sample_con, plan)
    assert result.rows == [{"segment_size": 0}] or not result.answerable


@pytest.mark.parametrize("statement", [
    "DROP VIEW events", "CREATE TABLE pwned AS SELECT 1", "DELETE FROM events",
    "INSERT INTO events SELECT * FROM events LIMIT 1",
])
def test_read_only_connection_refuses_writes(sample_con: duckdb.DuckDBPyConnection,
                                             statement: str) -> None:
    with pytest.raises(duckdb.Error):
        sample_con.execute(statement)


def test_llm_draft_cannot_smuggle_sql(sample_con: duckdb.DuckDBPyConnection) -> None:
    """A hostile draft: unknown values are dropped or bound; nothing it writes is executed."""
    before = _counts(sample_con)
    draft = ('{"metric": "events", "source": "taobao", "group_by": null, '
             '"category": "\'; DROP TABLE events; --", "brand": "x\' OR 1=1 --", '
             '"date_from": null, "date_to": null, "compare_previous_period": false, '
             '"lowest_first": false}')
    with scripted_server(lambda request: draft) as server:
        result = ask("How many events are in taobao? '; DROP TABLE events; --", sample_con,
                     FakeBackend(server.url), shortcut=False)
    assert result.answerable
    assert result.plan["filters"]["category"] in ([], ["'; DROP TABLE events; --"])
    for sql in result.sql:
        assert "DROP" not in sql and "OR 1=1" not in sql
    assert _counts(sample_con) == before


def test_metric_outside_schema_is_refused_by_structured_output(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    """An LLM answer outside the schema twice: no plan from it, code hints or refusal only."""
    with scripted_server(lambda request: '{"metric": "DROP TABLE events"}') as server:
        result = ask("How many purchases were made in taobao?", sample_con,
                     FakeBackend(server.url), shortcut=False)
    assert result.plan_source == "hints"
    assert result.answerable and "245" in result.answer
