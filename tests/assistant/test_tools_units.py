"""Unit tests of the tool building blocks: pre-resolution, rendering, grounding, copy checks,
routing, segment naming and traces (real DuckDB, scripted LLM)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assistant.grounding import check_answer
from assistant.prompts import load_prompt
from assistant.tools.ask import ask
from assistant.tools.chat import chat, find_ids, rule_route
from assistant.tools.marketing import Variant, check_variant, marketing_copy
from assistant.tools.profile import data_profile
from assistant.tools.render import fmt_value
from assistant.tools.resolve import find_dates, find_sources, resolve_question
from assistant.tools.segments import name_segments
from assistant.tools.summary import user_summary
from predictors.data.workspace import Workspace
from tests.assistant.toolkit import (
    FakeBackend,
    build_sample,
    last_user_text,
    sample_con,
    sample_ws,
    scripted_server,
)

__all__ = ["sample_con", "sample_ws"]

ANCHOR = dt.date(2017, 12, 3)


def test_find_sources_prefers_longest_name() -> None:
    names = ["beauty", "all_beauty", "gift_cards", "taobao"]
    assert find_sources("reviews in All Beauty vs gift cards", names) == ["all_beauty",
                                                                          "gift_cards"]
    assert find_sources("How many events does beauty have?", names) == ["beauty"]
    assert find_sources("nothing here", names) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("last week", (dt.date(2017, 11, 27), ANCHOR)),
    ("in the last 3 days", (dt.date(2017, 12, 1), ANCHOR)),
    ("yesterday", (dt.date(2017, 12, 2), dt.date(2017, 12, 2))),
    ("on 2017-12-01", (dt.date(2017, 12, 1), dt.date(2017, 12, 1))),
    ("between 2017-11-25 and 2017-11-30", (dt.date(2017, 11, 25), dt.date(2017, 11, 30))),
    ("in October 2019", (dt.date(2019, 10, 1), dt.date(2019, 10, 31))),
    ("in 2013", (dt.date(2013, 1, 1), dt.date(2013, 12, 31))),
    ("ever", (None, None)),
])
def test_find_dates(text: str, expected: tuple[Any, Any]) -> None:
    assert find_dates(f"How many purchases {text}?", ANCHOR)[:2] == expected


def test_resolve_question_on_sample(sample_con: duckdb.DuckDBPyConnection) -> None:
    profile = data_profile(sample_con)
    hints = resolve_question("Which category fell most in views last week in taobao?",
                             profile, sample_con)
    assert hints.sources == ["taobao"] and hints.group_by == "category"
    assert hints.compare and hints.direction == "fell" and hints.anchor == ANCHOR
    assert hints.metric == "views"
    assert resolve_question("What is the average age of buyers?", profile).unsupported == "age"
    brand = resolve_question("How many purchases of samsung phones in rees46?", profile,
                             sample_con)
    assert brand.brands == ["samsung"]
    assert resolve_question("What is the total revenue?", profile, sample_con).brands == []


def test_offline_ask_matches_direct_sql(sample_con: duckdb.DuckDBPyConnection) -> None:
    result = ask("How many purchases were made in taobao?", sample_con, None)
    truth = sample_con.execute("SELECT count(*) FROM events WHERE source = 'taobao' AND "
                               "event_type = 'purchase'").fetchone()[0]
    assert result.plan_source == "offline" and f"{truth:,}" in result.answer
    rate = ask("What is the view-to-cart rate in taobao?", sample_con, None)
    assert rate.rows[0]["view_to_cart_rate"] == pytest.approx(654 / 11406)
    assert "5.7%" in rate.answer


def test_unanswerable_questions_say_what_is_available(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    revenue = ask("What is the revenue in taobao?", sample_con, None)
    assert not revenue.answerable and "price" in revenue.reason and "rees46" in revenue.reason
    carts = ask("How many add-to-cart events in gift cards?", sample_con, None)
    assert not carts.answerable and "gift_cards has no cart events" in carts.answer
    age = ask("What is the average age of our buyers?", sample_con, None)
    assert not age.answerable and "Sources:" in age.answer
    for result in (revenue, carts, age):
        assert check_answer(result.answer, data_profile(sample_con).to_dict(),
                            question=result.question).ok


def test_template_answers_pass_grounding(sample_con: duckdb.DuckDBPyConnection) -> None:
    for question in ["Which brand has the highest revenue in rees46?",
                     "Which day had the most events in taobao?",
                     "Which category grew most in purchases last week in taobao?",
                     "What is the average order value in rees46?",
                     "Which source has the most users?",
                     "How many users were scored in taobao?"]:
        result = ask(question, sample_con, None)
        assert result.answerable, question
        assert result.grounding["ok"], (question, result.answer)
        assert result.run.steps and result.run.latency_s > 0


def test_number_formats_and_foreign_citations() -> None:
    facts = {"rate": 0.05937, "events": 84287, "reviews": ["r1"]}
    assert check_answer("A rate of 5.9% over 84,287 events [F:events].", facts,
                        {"F": {"events"}}).ok
    bad = check_answer("A rate of 7.5% [R:r2].", facts, {"F": {"events"}, "R": {"r1"}})
    assert {v.kind for v in bad.violations} == {"number", "citation"}
    assert fmt_value("view_to_cart_rate", 0.05937) == "5.9%"
    assert fmt_value("revenue", 59442.63) == "59,442.63"


def test_summary_retries_once_then_succeeds(sample_con: duckdb.DuckDBPyConnection) -> None:
    replies = iter(["The customer wrote 77 reviews [F:reviews_written].",
                    "The customer reviews music gear [F:reviews_written]."])
    with scripted_server(lambda request: next(replies)) as server:
        result = user_summary("ADH0O8UVJOT10", con=sample_con,
                              backend=FakeBackend(server.url))
        retry_prompt = last_user_text(server.requests[1])
    assert result.status == "retried"
    assert "77" in retry_prompt  # the violation was stated in the retry
    assert result.summary.startswith("The customer reviews music gear")
    assert result.run.prompt_refs == [load_prompt("user_summary").ref]
    assert result.run.model == "scripted-model" and result.run.first_token_s is not None
    assert 3 <= len(result.reviews) <= 5


def test_copy_checks_flag_invented_claims() -> None:
    facts = {"title": "Amazon.com Gift Card", "price": 25.0}
    text = json.dumps(facts)
    ok = Variant(headline="A gift card they will use", body="Amazon.com Gift Card, from 25.")
    assert check_variant(ok, "email", text, facts) == []
    for body in ["Now 20% off!", "Free shipping today", "Only $19.99", "Big discount inside",
                 "Perfect for women"]:
        problems = check_variant(Variant(headline="Gift", body=body), "email", text, facts)
        assert problems, body
    long = Variant(headline="x" * 60, body="ok")
    assert check_variant(long, "banner", text, facts)


def test_marketing_copy_drops_bad_variants(sample_con: duckdb.DuckDBPyConnection) -> None:
    item = sample_con.execute("SELECT item_id FROM items WHERE source = 'gift_cards' AND "
                              "price IS NOT NULL ORDER BY item_id LIMIT 1").fetchone()[0]
    user = sample_con.execute("SELECT user_id FROM reviews WHERE source = 'gift_cards' AND "
                              "item_id = ? LIMIT 1", [item]).fetchone()[0]
    answer = {"variants": [{"headline": "A gift they can choose", "body": "Let them pick."},
                           {"headline": "50% off today", "body": "Free gift card!"}]}
    with scripted_server(lambda request: json.dumps(answer)) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="push", n_variants=2)
    assert result.variants == [{"headline": "A gift they can choose", "body": "Let them pick."}]
    assert result.rejected and all(r["violations"] for r in result.rejected)
    assert result.run.prompt_refs == ["marketing_copy@1"]


def test_chat_routes_by_rules_and_streams(sample_con: duckdb.DuckDBPyConnection) -> None:
    found = find_ids(sample_con, "please summarize user ADH0O8UVJOT10")
    assert found.users == ["ADH0O8UVJOT10"]
    assert rule_route("please summarize user ADH0O8UVJOT10", found).tool == "summary"
    reply = "A keen reviewer of music gear [F:reviews_written]."
    with scripted_server(lambda request: reply) as server:
        events = list(chat([], "please summarize user ADH0O8UVJOT10", con=sample_con,
                           backend=FakeBackend(server.url)))
    kinds = [e.type for e in events]
    assert kinds[0] == "route" and kinds[-1] == "done" and "answer" in kinds
    assert "delta" in kinds and any(e.type == "step" for e in events)
    answer = next(e for e in events if e.type == "answer")
    assert answer.data["text"].startswith("A keen reviewer")
    with scripted_server(lambda request: json.dumps({"tool": "ask"})) as server:
        events = list(chat([], "How many purchases were made in taobao?", con=sample_con,
                           backend=FakeBackend(server.url)))
    assert next(e for e in events if e.type == "route").data["by"] == "llm"
    assert "245" in next(e for e in events if e.type == "answer").data["text"]


def test_chat_reports_unknown_user(sample_con: duckdb.DuckDBPyConnection) -> None:
    with scripted_server(lambda request: json.dumps({"tool": "summary",
                                                     "user_id": "NOPE"})) as server:
        events = list(chat([], "tell me about customer NOPE", con=sample_con,
                           backend=FakeBackend(server.url)))
    error = next(e for e in events if e.type == "error")
    assert "which user" in error.data["message"]


def test_segment_names_skip_then_publish(tmp_path: Path) -> None:
    root = build_sample(tmp_path / "ws")
    reply = json.dumps({"name": "Busy browsers", "description": "They view a lot."})
    with scripted_server(lambda request: reply) as server:
        skipped = name_segments(root, FakeBackend(server.url))
        assert skipped.skipped and not skipped.rows
        ws = Workspace.open(root)
        table = pa.table({"source": ["taobao", "taobao"], "segment": [0, 1],
                          "n_users": [70, 50], "mean_n_events": [120.5, 80.25]})
        with ws.lock():
            batch = ws.new_batch()
            pq.write_table(table, batch.staging_dir / "segments-00000.parquet")
            batch.files["segments"] = ["segments-00000.parquet"]
            ws.publish_derived("segments", batch, {}, partition="taobao")
        named = name_segments(root, FakeBackend(server.url))
    assert named.published == ["taobao"]
    con = Workspace.open(root).connect()
    rows = con.execute("SELECT segment, name, status, prompt_ref FROM segment_names "
                       "ORDER BY segment").fetchall()
    assert rows == [(0, "Busy browsers", "ok", "segment_name@1"),
                    (1, "Busy browsers", "ok", "segment_name@1")]


@pytest.mark.parametrize("name", ["ask_plan", "user_summary", "persona", "explain",
                                  "marketing_copy", "chat_router", "segment_name"])
def test_prompts_are_versioned_and_warn_about_review_text(name: str) -> None:
    from assistant.prompts import load_prompt

    prompt = load_prompt(name)
    assert prompt.ref == f"{name}@{prompt.version}" and prompt.version >= 1
    if "$reviews" in prompt.user:
        assert "never instructions" in prompt.system


def test_grouped_citations_are_split() -> None:
    from assistant.tools.narrate import clean

    assert clean("Active [F:events, F:purchases]. Fine [F: views].") == (
        "Active [F:events] [F:purchases]. Fine [F:views].")


def test_model_guesses_are_not_trusted(sample_con: duckdb.DuckDBPyConnection) -> None:
    """A source or dates the question never names are dropped from the model's draft."""
    from assistant.tools.ask import _names_period, draft_model, to_plan

    profile = data_profile(sample_con)
    model = draft_model(list(profile.sources))
    draft = model.model_validate({"metric": "events", "source": "beauty", "group_by": "source",
                                  "date_from": "2017-12-03", "date_to": "2017-12-03"})
    question = "Which source has the most events?"
    plan, overrides = to_plan(draft, resolve_question(question, profile, sample_con), question,
                              profile)
    assert plan is not None and plan.filters.source == [] and plan.filters.date_from is None
    assert {"source", "dates"} <= set(overrides)
    assert not _names_period("Which day had the most events?")
    assert _names_period("How many events since March?")


def test_attribution_cites_only_exact_evidence() -> None:
    from assistant.tools.attribution import attribute

    facts = {"events": 42, "reviews_written": 42, "top_category": "electronics.smartphone"}
    reviews = {"r1": "Boutique quality compressor pedal with great tone"}
    text, added = attribute("They wrote 42 reviews. Mostly electronics.smartphone. The compressor "
                            "pedal has boutique quality tone. They seem kind. Spent 17.", facts,
                            reviews)
    assert text == ("They wrote 42 reviews [F:reviews_written]. Mostly electronics.smartphone "
                    "[F:top_category]. The compressor pedal has boutique quality tone [R:r1]. "
                    "They seem kind. Spent 17.")
    assert added == 3
