"""Unit tests of the tool building blocks: pre-resolution, rendering, grounding, copy checks,
routing, segment naming and traces (real DuckDB, scripted LLM)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from assistant.grounding import check_answer, check_personal
from assistant.tools.ask import ask
from assistant.tools.chat import chat, find_ids, rule_route
from assistant.tools.marketing import Variant, check_variant, marketing_copy
from assistant.tools.narrate import PROSE_MAX_TOKENS
from assistant.tools.profile import data_profile
from assistant.tools.render import fmt_value
from assistant.tools.resolve import find_dates, resolve_question
from assistant.tools.segment_traits import (
    contrasts,
    direction_errors,
    overall_values,
    trait_name,
)
from assistant.tools.segments import name_segments
from assistant.tools.source_names import find_sources
from assistant.tools.summary import user_summary
from prompts import load_prompt
from store.workspace import Workspace
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


def _claims(*claims: tuple[str, str]) -> str:
    """A claims answer: (text, evidence id) pairs as the model's JSON."""
    return json.dumps({"claims": [{"evidence": [ident], "kind": "fact", "text": text}
                                  for text, ident in claims]})


def test_summary_retries_once_then_succeeds(sample_con: duckdb.DuckDBPyConnection) -> None:
    replies = iter([_claims(("The customer wrote 77 reviews.", "F:reviews_written")),
                    _claims(("The customer reviews music gear.", "F:reviews_written"),
                            ("They wrote 42 reviews.", "F:reviews_written"))])
    with scripted_server(lambda request: next(replies)) as server:
        result = user_summary("ADH0O8UVJOT10", con=sample_con,
                              backend=FakeBackend(server.url))
        retry_prompt = last_user_text(server.requests[1])
    assert result.status == "partial"  # the first draft's claim was dropped
    assert "77" in retry_prompt  # the violation was stated in the retry
    assert result.summary.startswith("The customer reviews music gear [1].")
    assert result.text == result.summary and result.badge == "2 of 3 claims verified"
    assert result.run.prompt_refs == [load_prompt("user_summary").ref,
                                      load_prompt("claims_repair").ref]  # a repair turn
    assert result.run.model == "scripted-model" and result.run.first_token_s is not None
    assert 3 <= len(result.reviews) <= 5


def test_copy_checks_flag_invented_claims() -> None:
    facts = {"title": "Amazon.com Gift Card", "price": 25.0}
    text = json.dumps(facts)
    ok = Variant(headline="A gift card they will use", body="Amazon.com Gift Card, from 25.")
    assert check_variant(ok, "email", text, facts) == []
    for body in ["Now 20% off!", "Free shipping today", "Only $19.99", "Big discount inside",
                 "Perfect for women", "Very affordable, so you save money",
                 "The launch of our new cable"]:
        problems = check_variant(Variant(headline="Gift", body=body), "email", text, facts)
        assert problems, body
    long = Variant(headline="x" * 60, body="ok")
    assert check_variant(long, "banner", text, facts)


def test_marketing_copy_drops_bad_variants(sample_con: duckdb.DuckDBPyConnection) -> None:
    item = sample_con.execute("SELECT item_id FROM items WHERE source = 'gift_cards' AND "
                              "price IS NOT NULL ORDER BY item_id LIMIT 1").fetchone()[0]
    user = sample_con.execute("SELECT user_id FROM reviews WHERE source = 'gift_cards' AND "
                              "item_id = ? LIMIT 1", [item]).fetchone()[0]
    claim = {"evidence": ["F:item_brand"], "kind": "fact", "text": "Sold by Amazon."}
    answer = {"variants": [{"headline": "A gift they can choose", "claims": [claim],
                            "cta": "Let them pick"},
                           {"headline": "50% off today", "claims": [
                               {"evidence": ["F:item_title"], "kind": "fact",
                                "text": "Free gift card!"}], "cta": "Hurry"}],
              "claims": [{"evidence": ["F:item_title"], "kind": "fact", "text": "50% off!"}]}
    with scripted_server(lambda request: json.dumps(answer)) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="push", n_variants=2)
    assert [(v["headline"], v["body"]) for v in result.variants] == [
        ("A gift they can choose", "Sold by Amazon. Let them pick.")]
    assert result.status == "partial"
    assert result.rejected and all(r["violations"] for r in result.rejected)
    assert result.run.prompt_refs == ["marketing_copy@4", "copy_repair@3"]


def test_copy_speaks_for_the_shop_not_as_a_reviewer() -> None:
    facts = {"title": "Guitar Strings"}
    text = json.dumps(facts)
    for body in ["I've used these for weeks.", "My favourite strings.", "Sounds fine to me."]:
        problems = check_variant(Variant(headline="Strings", body=body), "email", text, facts)
        assert [p.kind for p in problems] == ["voice"], body
    quoted = Variant(headline="Strings", body='Customers say "I love the tone". Try them.')
    assert check_variant(quoted, "email", text, facts) == []


def test_copy_for_an_item_with_nothing_to_describe_skips_the_llm(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = sample_con.execute(
        "SELECT item_id, user_id FROM events WHERE source = 'taobao' ORDER BY item_id "
        "LIMIT 1").fetchone()
    requests: list[Any] = []
    with scripted_server(lambda request: requests.append(request) or "{}") as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="push")
    assert requests == [] and result.status == "fallback"
    assert f"item {item} has no title" in result.notice
    assert result.variants[0]["headline"] == f"item {item}"


def test_chat_routes_by_rules_and_streams(sample_con: duckdb.DuckDBPyConnection) -> None:
    found = find_ids(sample_con, "please summarize user ADH0O8UVJOT10")
    assert found.users == ["ADH0O8UVJOT10"]
    assert rule_route("please summarize user ADH0O8UVJOT10", found).tool == "summary"
    reply = _claims(("A keen reviewer of music gear.", "F:reviews_written"),
                    ("Their reviews start in 2012.", "F:first_activity"))
    with scripted_server(lambda request: reply) as server:
        events = list(chat([], "please summarize user ADH0O8UVJOT10", con=sample_con,
                           backend=FakeBackend(server.url)))
    kinds = [e.type for e in events]
    assert kinds[0] == "route" and kinds[-1] == "done" and "answer" in kinds
    assert "delta" in kinds and any(e.type == "step" for e in events)
    answer = next(e for e in events if e.type == "answer")
    assert answer.data["text"].startswith("A keen reviewer")
    assert server.requests[-1]["max_completion_tokens"] == PROSE_MAX_TOKENS  # default cap
    with scripted_server(lambda request: reply) as server:
        list(chat([], "please summarize user ADH0O8UVJOT10", con=sample_con,
                  backend=FakeBackend(server.url), prose_max_tokens=42))
    assert server.requests[-1]["max_completion_tokens"] == 42  # the caller's setting
    # A question about aggregates goes to `ask` by rule, whatever the model would have said.
    with scripted_server(lambda request: json.dumps({"tool": "summary"})) as server:
        events = list(chat([], "How many purchases were made in taobao?", con=sample_con,
                           backend=FakeBackend(server.url)))
    route = next(e for e in events if e.type == "route").data
    assert (route["tool"], route["by"]) == ("ask", "rules")
    assert "245" in next(e for e in events if e.type == "answer").data["text"]


@pytest.mark.parametrize(("message", "tool"), [
    ("How many purchases are there in taobao?", "ask"),
    ("Which category has the most views in taobao?", "ask"),
    ("which segment's cart-to-purchase rate fell most last week?", "ask"),
    ("persona of segment 1", "persona"),
    ("hello", "help"),
    ("tell me about customer NOPE", None),  # labels a user: the LLM decides
    ("what is going on in the shop", None),
])
def test_rule_route_sends_aggregate_questions_to_ask(
        sample_con: duckdb.DuckDBPyConnection, message: str, tool: str | None) -> None:
    route = rule_route(message, find_ids(sample_con, message))
    assert (route.tool if route else None) == tool


def test_llm_route_without_needed_ids_becomes_a_data_question(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    with scripted_server(lambda request: json.dumps({"tool": "summary"})) as server:
        events = list(chat([], "what is going on in the shop", con=sample_con,
                           backend=FakeBackend(server.url)))
    route = next(e for e in events if e.type == "route").data
    assert (route["tool"], route["by"]) == ("ask", "llm")


def test_chat_reports_unknown_user(sample_con: duckdb.DuckDBPyConnection) -> None:
    with scripted_server(lambda request: json.dumps({"tool": "summary",
                                                     "user_id": "NOPE"})) as server:
        events = list(chat([], "tell me about customer NOPE", con=sample_con,
                           backend=FakeBackend(server.url)))
    error = next(e for e in events if e.type == "error")
    assert "which user" in error.data["message"]


def test_segment_names_skip_then_publish(tmp_path: Path) -> None:
    root = build_sample(tmp_path / "ws")
    reply = json.dumps({"name": "Busy browsers", "claims": [
        {"evidence": ["F:n_users"], "kind": "fact", "text": "The segment holds 70 users."}]})
    with scripted_server(lambda request: reply) as server:
        skipped = name_segments(root, FakeBackend(server.url))
        assert skipped.skipped and not skipped.rows
        ws = Workspace.open(root)
        table = pa.table({"source": ["taobao", "taobao"], "segment": [0, 1],
                          "n_users": [70, 50], "mean_share_purchase": [0.3, 0.01]})
        ws.write_derived("segments", table, {}, partition="taobao")
        named = name_segments(root, FakeBackend(server.url))
    assert named.published == ["taobao"]
    con = Workspace.open(root).connect()
    rows = con.execute("SELECT segment, name, status, prompt_ref, description FROM "
                       "segment_names ORDER BY segment").fetchall()
    # The model repeats its name for segment 1 (and its claim's 70 is not segment 1's size):
    # refused, and the computed name and description are stored.
    assert [r[:4] for r in rows] == [(0, "Busy browsers", "ok", "segment_name@3"),
                                     (1, "Browsers", "fallback", "segment_name@3")]
    assert rows[0][4] == "The segment holds 70 users."
    assert rows[1][4] == ("It differs in share of purchases: 0.01 vs 0.179 overall "
                          "(17.9 times lower).")


def test_segment_contrasts_pick_what_sets_a_segment_apart() -> None:
    rows = [{"n_users": 80, "mean_recency_days": 10.0, "mean_monetary": 100.0},
            {"n_users": 20, "mean_recency_days": 40.0, "mean_monetary": 105.0}]
    overall = overall_values(rows)
    assert overall == {"mean_recency_days": 16.0, "mean_monetary": 101.0}
    found = contrasts(rows[1], overall)
    assert [(c.key, c.factor) for c in found] == [("mean_recency_days", 2.5)]
    assert trait_name(found, set()) == "Lapsed shoppers"
    assert trait_name(found, {"lapsed shoppers"}) is None
    assert contrasts(rows[0], overall)[0].higher is False


@pytest.mark.parametrize("name", ["ask_plan", "user_summary", "persona", "explain",
                                  "marketing_copy", "copy_repair", "claims_repair", "chat_router",
                                  "segment_name"])
def test_prompts_are_versioned_and_warn_about_review_text(name: str) -> None:
    from prompts import load_prompt

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
    from assistant.tools.ask import draft_model, to_plan
    from assistant.tools.periods import names_period

    profile = data_profile(sample_con)
    model = draft_model(list(profile.sources))
    draft = model.model_validate({"metric": "events", "source": "beauty", "group_by": "source",
                                  "date_from": "2017-12-03", "date_to": "2017-12-03"})
    question = "Which source has the most events?"
    plan, overrides = to_plan(draft, resolve_question(question, profile, sample_con), question,
                              profile)
    assert plan is not None and plan.filters.source == [] and plan.filters.date_from is None
    assert {"source", "dates"} <= set(overrides)
    assert not names_period("Which day had the most events?")
    assert names_period("How many events since March?")


def test_most_question_ignores_a_lowest_first_draft(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    """"Most …" asked, the model says lowest_first: the ranking stays highest first."""
    expected = sample_con.execute(
        "SELECT category, count(*) AS n FROM events WHERE source = 'taobao' AND "
        "event_type = 'view' GROUP BY category ORDER BY n DESC, category LIMIT 2").fetchall()
    assert expected[0][1] > expected[1][1]
    draft = json.dumps({"metric": "views", "source": "taobao", "group_by": "category",
                        "lowest_first": True})
    with scripted_server(lambda request: draft) as server:
        result = ask("Which category has the most views in taobao?", sample_con,
                     FakeBackend(server.url), shortcut=False)
    assert result.plan["descending"] is True
    assert str(expected[0][0]) in result.answer and "highest" in result.answer


def test_personal_words_quoting_a_shown_title_are_allowed() -> None:
    """"Men's Health" is a magazine the customer reviewed, not the customer's gender."""
    evidence = json.dumps({"top_items": ["Men's Health", "Guitar Strings"]})
    assert check_personal("A reader of Men's Health [F:top_items].", evidence) == []
    flagged = check_personal("Probably a man who reads Men's Health [F:top_items].", evidence)
    assert [v.value for v in flagged] == ["man"]
    assert [v.value for v in check_personal("Reads Men's Health.")] == ["Men"]
    variant = Variant(headline="Men's Health, for women too", body="Read on.")
    problems = check_variant(variant, "push", evidence, {})
    assert [p.value for p in problems] == ["women"]


def test_segment_text_that_inverts_a_behaviour_is_caught() -> None:
    overall = {"mean_share_cart": 0.006, "mean_share_purchase": 0.008, "buyers_share": 0.029}
    facts = {"mean_share_cart": 0.001, "mean_share_purchase": 0.0, "buyers_share": 0.0}
    wrong = "Users who have a high share of cart adds compared to the overall user base."
    assert [e.split("'")[2] for e in direction_errors(wrong, facts, overall)] == [
        " says cart adds are high, but this segment has fewer than overall"]
    right = "They rarely buy, and they add few items to their cart."
    assert direction_errors(right, facts, overall) == []
    invented = "Users who made purchases from the smartphone category."
    assert direction_errors(invented, facts, overall) == [
        f"'{invented[:-1]}' mentions purchases, but this segment has none"]
    assert direction_errors("Non-buyers who browse.", facts, overall) == []
    found = contrasts(facts, overall)
    assert trait_name(found, set()) == "Browsers"  # purchase facts give one name, not three
    assert trait_name(found, {"browsers"}) == "Browsers, few cart adds"
