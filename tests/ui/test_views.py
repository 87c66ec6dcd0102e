"""View helpers without a browser: facts used by copy, CSV export, chat history, data queries."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

from core.settings import Settings
from tests.assistant.toolkit import build_sample
from ui import data
from ui.access import role_access
from ui.chat_view import result_extras, tool_history
from ui.marketing_view import export_csv, facts_used


def _copy_result() -> SimpleNamespace:
    return SimpleNamespace(
        item_id="B01", channel="email", tone="friendly", target="segment 1 of mi",
        item={"title": "Fender Guitar Strings", "brand": "Fender", "price": 5.99},
        audience={"top_categories": "Strings (12)"},
        variants=[{"headline": "=HYPERLINK(\"http://x\")", "body": "New Fender strings, 5.99."},
                  {"headline": "Tune up", "body": "Bright tone for every gig."}])


def test_facts_used_are_the_facts_quoted() -> None:
    result = _copy_result()
    facts = {"item.brand": "Fender", "item.price": 5.99, "item.title": "Fender Guitar Strings"}
    assert facts_used(result.variants[0], facts) == {"item.brand": "Fender", "item.price": 5.99}
    assert facts_used(result.variants[1], facts) == {}


def test_csv_export_is_a_new_file_with_formulas_neutralised(tmp_path: Path) -> None:
    path = export_csv(_copy_result(), tmp_path, role_access(Settings(), "operator"))
    assert path.parent == tmp_path and path.name.startswith("copy-variants-")
    rows = list(csv.DictReader(path.open()))
    assert [r["variant"] for r in rows] == ["1", "2"]
    assert rows[0]["headline"].startswith("'=")  # a spreadsheet will not run it
    assert "item.brand=Fender" in rows[0]["facts_used"]


def test_tool_history_skips_step_messages() -> None:
    history = [
        {"role": "user", "content": [{"type": "text", "text": "how many views?"}]},
        {"role": "assistant", "content": "route", "metadata": {"title": "✓ route"}},
        {"role": "assistant", "content": "There are 5 views."},
    ]
    assert tool_history(history) == [("user", "how many views?"),
                                     ("assistant", "There are 5 views.")]


def test_result_extras_table_chart_and_sql() -> None:
    result = {"answerable": True, "columns": ["brand", "revenue"],
              "rows": [{"brand": "apple", "revenue": 10.5}, {"brand": "sony", "revenue": 3.0}],
              "chart": {"mark": "bar", "x": "brand", "y": "revenue", "title": "revenue"},
              "sql": ["SELECT 1"]}
    extras = result_extras(result, limit=10)
    assert "| apple | 10.5 |" in extras[0].content
    assert type(extras[1].content).__name__ == "Plot"
    assert extras[2].metadata["title"].startswith("SQL")


def test_data_queries_on_the_sample(tmp_path: Path) -> None:
    root = build_sample(tmp_path / "ws")
    from store.workspace import Workspace

    con = Workspace.open(root).connect()
    try:
        assert "taobao" in data.sources(con)
        users = data.example_users(con)
        assert users and all("/" in key for _, key in users)
        source, user = data.split_user_key(users[0][1])
        assert not data.timeline(con, source, user).empty or source == "beauty"
        items = data.popular_items(con, "rees46", 3)
        assert len(items) == 3
        fresh = {r["source"]: r for r in data.freshness(con, root)}
        assert fresh["beauty"]["newest_event"] == "untimed"
        reviews = data.user_reviews(con, "musical_instruments", "ADH0O8UVJOT10")
        assert reviews and {"reviewer_name", "text"} <= set(reviews[0])
    finally:
        con.close()


def test_app_builds_and_exposes_its_endpoints(tmp_path: Path) -> None:
    from core.settings import get_settings
    from ui.app import build_app
    from ui.context import AppContext

    ctx = AppContext(root=build_sample(tmp_path / "ws"), settings=get_settings(), backend=None)
    blocks = build_app(ctx)
    fns = list(blocks.fns.values())
    assert {"chat", "customer", "why", "persona", "copy"} <= {f.api_name for f in fns}
    llm = [f for f in fns if f.api_name in ("chat", "why", "persona", "copy")]
    # LLM events share one limit; the briefing after a lookup (no API name) shares it too
    assert len(llm) == 4 and all(f.concurrency_id == "llm" for f in llm)
    assert all(f.concurrency_limit == ctx.settings.ui.llm_concurrency_limit for f in llm)
    assert ctx.settings.ui.llm_concurrency_limit > 1 and ctx.settings.ui.concurrency_limit > 1
    # no toggle decides masking: the only checkbox is the audience's "exclude recent buyers"
    checkboxes = [b.label for b in blocks.blocks.values() if type(b).__name__ == "Checkbox"]
    assert checkboxes == ["Exclude recent buyers (30 days)"]
    assert not ctx.settings.model_dump()["ui"].get("mask_reviewer_names")


def test_prose_views_pass_the_configured_prose_limit(tmp_path: Path) -> None:
    from tests.assistant.toolkit import FakeBackend, scripted_server
    from ui.context import AppContext
    from ui.customer_view import summary_stream
    from ui.segments_view import persona_stream

    settings = Settings(llm={"prose_max_tokens": 42})
    root = build_sample(tmp_path / "ws")
    with scripted_server(lambda request: "A keen shopper [F:events].") as server:
        ctx = AppContext(root=root, settings=settings, backend=FakeBackend(server.url))
        who = {"user_id": "ADH0O8UVJOT10", "source": "musical_instruments"}
        assert list(summary_stream(ctx, who, masked=True))[-1][1]  # citations shown
        assert list(persona_stream(ctx, "taobao/0", masked=True))[-1][1]
    assert len(server.requests) >= 2
    assert {r["max_completion_tokens"] for r in server.requests} == {42}
