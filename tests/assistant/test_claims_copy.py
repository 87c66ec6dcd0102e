"""Claim-level marketing copy and segment descriptions: each copy claim verified with the copy
guardrails, refused parts repaired or dropped, the status values, numbered citations without
raw tags, segment descriptions as claims against the contrast facts, and the `--json` shape
(scripted model)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from assistant.claims.copy import parse_copy
from assistant.claims.hints import repair_hints
from assistant.claims.schema import ClaimDraft
from assistant.claims.verify import EvidenceSet, ReviewEvidence
from assistant.facts import item_facts
from assistant.tools.copy_claims import CopyChecks
from assistant.tools.marketing import copy_evidence, marketing_copy
from assistant.tools.segment_claims import description_check, segment_evidence
from assistant.tools.segment_traits import contrasts
from assistant.tools.segments import name_segments
from core.settings import get_settings
from insight.commands import tool_cmds
from store.workspace import Workspace
from tests.assistant.toolkit import (
    FakeBackend,
    build_sample,
    sample_con,
    sample_ws,
    scripted_server,
)

__all__ = ["sample_con", "sample_ws"]

RAW_TAG = re.compile(r"\[[A-Z]:")
# from the sample gift card's description
STRINGS = "Nickel-wound strings with a bright tone and long sustain."
REDEEMABLE = "Amazon.com Gift Cards are redeemable for millions of items across Amazon.com."
ITEM = {"item_id": "B01", "title": "Fender Guitar Strings", "brand": "Fender", "price": 5.99}


def _checks(channel: str = "email", zero: frozenset[str] = frozenset(),
            description: str | None = None, extra_facts: dict[str, Any] | None = None,
            item: dict[str, Any] = ITEM) -> CopyChecks:
    facts = {"item_id": "B01", "item_title": ITEM["title"], "item_brand": "Fender",
             "item_price": 5.99, "mean_rating_given": 4.5,
             **({"item_description": description} if description else {}),
             **(extra_facts or {})}
    evidence = EvidenceSet(facts=facts, context={"item_id": "B01", "user_id": "U1"}, zero=zero,
                           names=frozenset({"fender", "gibson"}))
    return CopyChecks(channel, evidence, json.dumps(item), {"item": item})


@pytest.mark.parametrize(("text", "evidence", "reason"), [
    ("Fender Guitar Strings now for only 4.99.", ["F:item_price"], "4.99"),
    ("Fender strings at 20% off.", ["F:item_brand"], "promotional"),
    ("Gibson made these strings.", ["F:item_title"], "'Gibson' is not in the cited"),
    ("Fender strings for 5.99.", ["F:someone_elses_fact"], "is not a fact of this request"),
    ("A review by another customer loves them.", ["R:other_users_review"], "not a review"),
    ("I love these Fender strings.", ["F:item_brand"], "speaks as a reviewer"),
    ("...", ["F:item_title"], "placeholder"),
    ("Fender strings give bright tone and long sustain.", ["F:item_brand"],
     "'bright' is not in the cited evidence"),
    ("FenderPro strings are rated 4.5.", ["F:mean_rating_given"],
     "'FenderPro' is not in the cited evidence"),  # a capitalised word gets no slack
    ("Fender Guitar Strings are the perfect gift.", ["F:item_title"], "praise"),
    ("Fender Guitar Strings have 12 reviews from satisfied customers.", ["F:item_title"],
     "praise"),
])
def test_copy_claim_that_breaks_a_rule_is_refused(text: str, evidence: list[str],
                                                  reason: str) -> None:
    verdict = _checks().claim(ClaimDraft(text, evidence, "fact"))
    assert not verdict.verified and any(reason in r for r in verdict.reasons), verdict.reasons


def test_copy_claim_from_the_facts_passes() -> None:
    verdict = _checks().claim(ClaimDraft("Fender Guitar Strings cost 5.99.",
                                         ["F:item_title", "F:item_price"], "fact"))
    assert verdict.verified, verdict.reasons


def test_a_count_is_not_its_hundredfold() -> None:
    """Offset 140 let "… 4.8 out of 5 stars and 500 reviews" through for 5 reviews (a count's
    percent form); the claim is now refused."""
    checks = _checks(extra_facts={"item_mean_rating": 4.8, "item_review_count": 5},
                     item={**ITEM, "review_count": 5, "mean_rating": 4.8})
    cited = ["F:item_title", "F:item_mean_rating", "F:item_review_count"]
    bad = checks.claim(ClaimDraft("Fender Guitar Strings are rated 4.8 out of 5 stars in 500 "
                                  "reviews.", cited, "fact"))
    assert not bad.verified and any("500" in r for r in bad.reasons), bad.reasons
    good = checks.claim(ClaimDraft("Fender Guitar Strings are rated 4.8 out of 5 stars in 5 "
                                   "reviews.", cited, "fact"))
    assert good.verified, good.reasons


def test_a_possessive_in_the_evidence_holds_the_plain_name() -> None:
    """The title "Cook's Country's large size" names "Cook's Country": a claim using the plain
    name is not refused for a word the evidence lacks (it was, before possessives were read)."""
    checks = _checks(description="Cook's Country's large size, recipes tested at home.")
    verdict = checks.claim(ClaimDraft("Cook's Country recipes are tested at home.",
                                      ["F:item_description"], "fact"))
    assert verdict.verified, verdict.reasons
    other = checks.claim(ClaimDraft("Cook's Kitchen recipes are tested at home.",
                                    ["F:item_description"], "fact"))
    assert not other.verified and any("'Kitchen'" in r for r in other.reasons), other.reasons


def test_claim_about_what_is_zero_is_refused() -> None:
    checks = _checks(zero=frozenset({"purchases"}))
    again = checks.claim(ClaimDraft("Buy Fender strings again, like your last purchase.",
                                    ["F:item_brand"], "suggestion"))
    assert not again.verified and any("no purchases" in r for r in again.reasons)
    assert checks.phrase("cta", "Buy again") != []
    fresh = checks.claim(ClaimDraft("You might want Fender Guitar Strings.",
                                    ["F:item_title"], "suggestion"))
    assert fresh.verified, fresh.reasons


def test_parser_reads_variants_also_when_cut_off() -> None:
    whole = {"variants": [{"headline": "H1", "claims": [
        {"evidence": ["F:a"], "kind": "fact", "text": "One."}], "cta": "Go"}]}
    [draft] = parse_copy(json.dumps(whole))
    assert (draft.headline, draft.cta, draft.claims[0].evidence) == ("H1", "Go", ["F:a"])
    cut = json.dumps({"variants": [whole["variants"][0], whole["variants"][0]]})[:-40]
    assert len(parse_copy(cut)) == 1
    assert parse_copy("not json") == []


def _gift(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    item = con.execute("SELECT item_id FROM items WHERE source = 'gift_cards' AND price IS NOT "
                       "NULL ORDER BY item_id LIMIT 1").fetchone()[0]
    user = con.execute("SELECT user_id FROM reviews WHERE source = 'gift_cards' AND "
                       "item_id = ? ORDER BY user_id LIMIT 1", [item]).fetchone()[0]
    return item, user


def _claim(text: str, *evidence: str, kind: str = "fact") -> dict[str, Any]:
    return {"evidence": list(evidence), "kind": kind, "text": text}


def test_variant_with_one_bad_claim_keeps_the_good_ones_without_a_repair(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = _gift(sample_con)
    title = sample_con.execute("SELECT title FROM items WHERE source = 'gift_cards' AND "
                               "item_id = ?", [item]).fetchone()[0]
    answer = {"variants": [{"headline": "A gift they can choose", "cta": "Send one today",
                            "claims": [_claim(f"The {title} lets them pick.", "F:item_title"),
                                       _claim("Only 19.99 this week.", "F:item_price"),
                                       _claim("It comes from Amazon.", "F:item_brand")]}]}
    with scripted_server(lambda request: json.dumps(answer)) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="email", n_variants=1)
    assert len(server.requests) == 1  # the two verified claims fill an email: no repair call
    assert result.status == "partial" and not result.notice
    [variant] = result.variants
    assert variant["status"] == "partial" and variant["badge"] == "2 of 3 claims verified"
    assert variant["body"] == f"The {title} lets them pick. It comes from Amazon. Send one today."
    assert variant["text"] == (f"The {title} lets them pick [1]. It comes from Amazon [2]. "
                               "Send one today.")
    assert [s["id"] for s in variant["sources"]] == ["F:item_title", "F:item_brand"]
    assert [c["verified"] for c in variant["claims"]] == [True, False, True]
    assert not RAW_TAG.search(result.text) and "19.99" not in result.text


def test_a_variant_short_of_claims_gets_one_targeted_repair(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = _gift(sample_con)
    answer = {"variants": [{"headline": "A gift they can choose", "cta": "Send one today",
                            "claims": [_claim("Only 19.99 this week.", "F:item_price"),
                                       _claim("It comes from Amazon.", "F:item_brand")]}]}
    fixed = {"claims": [_claim(REDEEMABLE, "F:item_description")]}
    replies = iter([answer, fixed])
    with scripted_server(lambda request: json.dumps(next(replies))) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="email", n_variants=1)
        repair_prompt = server.requests[1]["messages"][-1]["content"]
        repair_turn = server.requests[1]["messages"]
    assert len(server.requests) == 2 and "19.99" in repair_prompt  # one targeted repair
    # the repair continues the conversation: the request and the answer first, unchanged
    assert repair_turn[:2] == server.requests[0]["messages"]
    assert repair_turn[2]["role"] == "assistant" and json.loads(repair_turn[2]["content"]) == answer
    [variant] = result.variants
    assert variant["status"] == "partial" and variant["badge"] == "2 of 3 claims verified"
    assert variant["body"] == f"It comes from Amazon. {REDEEMABLE} Send one today."
    assert [c["verified"] for c in variant["claims"]] == [False, True, True]


def test_a_claim_naming_the_product_cites_its_title(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item_id, user = _gift(sample_con)
    item = item_facts(sample_con, "gift_cards", item_id, n_reviews=3)
    view = {k: item.facts[k] for k in ("item_id", "title", "brand") if k in item.facts}
    evidence = copy_evidence(sample_con, "gift_cards", item, view, {}, user, None)
    checks = CopyChecks("email", evidence, json.dumps(view), {"item": view})
    named = checks.claim(ClaimDraft(f"The {view['title']} comes from {view['brand']}.",
                                    ["F:item_brand"], "fact"))
    assert named.verified, named.reasons
    assert "F:item_title" in named.evidence  # the name's source, shown as a citation
    other = checks.claim(ClaimDraft("It works like a Starbucks card.", ["F:item_brand"], "fact"))
    assert not other.verified


def test_refused_claim_is_replaced_by_its_repair(sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = _gift(sample_con)
    answer = {"variants": [{"headline": "For any occasion", "cta": "Take a look",
                            "claims": [_claim("Free shipping on it.", "F:item_title")]}]}
    fixed = {"claims": [_claim("It is sold by Amazon.", "F:item_brand")]}
    replies = iter([answer, fixed])
    with scripted_server(lambda request: json.dumps(next(replies))) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="push", n_variants=1)
    assert result.status == "partial"
    assert result.variants[0]["body"] == "It is sold by Amazon. Take a look."
    assert result.run.prompt_refs == ["marketing_copy@4", "copy_repair@3"]


def test_long_headline_is_shortened_and_a_claim_too_long_for_the_channel_repaired(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = _gift(sample_con)
    long_claim = ("It is sold by Amazon, and you can give it to a friend or to a colleague or "
                  "to anyone in your family, whatever they like to do on any day of the year.")
    answer = {"variants": [{"headline": "A gift card they can spend on anything they like "
                                        "in the whole shop", "cta": "Take a look",
                            "claims": [_claim(long_claim, "F:item_brand")]}]}
    shorter = {"claims": [_claim("Give it to anyone in your family.", "F:item_brand")]}
    replies = iter([answer, shorter])
    with scripted_server(lambda request: json.dumps(next(replies))) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="push", n_variants=1)
        repair_prompt = server.requests[1]["messages"][-1]["content"]
    assert len(server.requests) == 2 and "149 characters" in repair_prompt
    assert "shorten it" in repair_prompt and result.status == "partial"
    [variant] = result.variants
    assert variant["headline"] == "A gift card they can spend on anything they like"  # <= 50
    assert variant["body"] == "Give it to anyone in your family. Take a look."


def test_a_long_claim_is_split_into_sentences_that_fit_a_banner(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = _gift(sample_con)
    copied = (f"{REDEEMABLE} The card is attached to a folded blank greeting "
              "card.")  # 133 characters: more than a banner's 90
    answer = {"variants": [{"headline": "A gift they can choose", "cta": "Take a look",
                            "claims": [_claim(copied, "F:item_description")]}]}
    with scripted_server(lambda request: json.dumps(answer)) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="banner", n_variants=1)
    assert len(server.requests) == 1 and result.status == "ok"
    [variant] = result.variants
    assert variant["body"] == f"{REDEEMABLE} Take a look."
    assert [c["text"] for c in variant["claims"]] == [
        REDEEMABLE,
        "The card is attached to a folded blank greeting card."]
    assert all(c["evidence"] == ["F:item_description"] for c in variant["claims"])


def test_call_to_action_is_left_out_when_only_so_a_claim_fits(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = _gift(sample_con)
    claim = ("Amazon.com Gift Cards are redeemable for millions of items across Amazon.com, "
             "and the card is attached to a folded blank greeting card.")  # 135: fits alone
    answer = {"variants": [{"headline": "A gift they can choose", "cta": "Take a look today",
                            "claims": [_claim(claim, "F:item_description")]}]}
    with scripted_server(lambda request: json.dumps(answer)) as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="push", n_variants=1)
    assert result.status == "ok" and len(server.requests) == 1
    assert result.variants[0]["body"] == claim and result.variants[0]["cta"] == ""


def test_all_claims_verified_is_ok_and_nothing_left_is_fallback(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = _gift(sample_con)
    good = {"variants": [{"headline": "A gift they can choose", "cta": "Take a look",
                          "claims": [_claim("It is sold by Amazon.", "F:item_brand")]}]}
    with scripted_server(lambda request: json.dumps(good)) as server:
        ok = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                            user_id=user, channel="push", n_variants=1)
    assert ok.status == "ok" and ok.variants[0]["status"] == "ok" and len(server.requests) == 1
    bad = {"variants": [{"headline": "50% off", "cta": "Hurry",
                         "claims": [_claim("Free today.", "F:item_title")]}],
           "claims": [_claim("Free, 50% off.", "F:item_title")]}
    with scripted_server(lambda request: json.dumps(bad)) as server:
        fallback = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                  user_id=user, channel="push", n_variants=1)
    assert len(server.requests) == 3  # draft, repair, one whole retry
    assert fallback.status == "fallback" and fallback.notice
    assert fallback.variants[0]["status"] == "fallback"
    assert fallback.badge.startswith("facts only (0 of ")
    assert re.search(r"\[1[],]", fallback.text) and not RAW_TAG.search(fallback.text)
    assert len(fallback.variants[0]["body"]) <= 140
    assert all(c["verified"] for c in fallback.variants[0]["claims"])
    assert {r["attempt"] for r in fallback.rejected} == {1, 2}


def test_item_with_nothing_to_describe_is_a_fallback_without_the_llm(
        sample_con: duckdb.DuckDBPyConnection) -> None:
    item, user = sample_con.execute("SELECT item_id, user_id FROM events WHERE source = "
                                    "'taobao' ORDER BY item_id LIMIT 1").fetchone()
    with scripted_server(lambda request: "{}") as server:
        result = marketing_copy(item, con=sample_con, backend=FakeBackend(server.url),
                                user_id=user, channel="push")
        assert server.requests == []
    assert result.status == "fallback" and f"item {item} has no title" in result.notice
    assert result.variants[0]["text"].startswith(f"Take another look at item {item} [1]")


FACTS = {"n_users": 50, "share_of_users": 0.4, "mean_share_purchase": 0.01,
         "mean_share_cart": 0.0, "buyers_share": 0.0}
OVERALL = {"mean_share_purchase": 0.179, "mean_share_cart": 0.02, "buyers_share": 0.2}


@pytest.mark.parametrize(("text", "evidence", "verified"), [
    ("Their share of purchases is 0.01 against 0.179 overall.", ["F:mean_share_purchase"],
     True),
    ("They buy 17.9 times less often than other shoppers.", ["F:mean_share_purchase"], True),
    ("They primarily shop for none.", ["F:n_users"], False),  # a missing value as a thing
    ("They often add items to their cart.", ["F:n_users"], False),  # zero cart adds
    ("They have a high share of purchases.", ["F:mean_share_purchase"], False),  # inverted
    ("Their share of purchases is 0.02.", ["F:mean_share_purchase"], False),  # wrong number
    ("The segment holds 50 users.", ["F:n_users"], True),
])
def test_segment_description_claims(text: str, evidence: list[str], verified: bool) -> None:
    from assistant.claims.verify import verify_claim

    found = contrasts(FACTS, OVERALL)
    ev = segment_evidence(1, "taobao", FACTS, found)
    result = verify_claim(ClaimDraft(text, evidence), ev, description_check(FACTS, OVERALL))
    assert result.verified is verified, result.reasons


def _segments_ws(root: Path) -> Path:
    build_sample(root)
    table = pa.table({"source": ["taobao", "taobao"], "segment": [0, 1], "n_users": [70, 50],
                      "mean_share_purchase": [0.3, 0.01]})
    Workspace.open(root).write_derived("segments", table, {}, partition="taobao")
    return root


def test_segment_names_with_claims_and_fallback(tmp_path: Path) -> None:
    root = _segments_ws(tmp_path / "ws")
    first = {"name": "Busy buyers", "claims": [
        _claim("Their share of purchases is 0.3 against 0.179 overall.", "F:mean_share_purchase"),
        _claim("They primarily shop for none.", "F:n_users")]}
    repeat = {"name": "Busy buyers", "claims": [_claim("They buy a lot.", "F:n_users")]}
    replies = iter([first, repeat, repeat])
    with scripted_server(lambda request: json.dumps(next(replies))) as server:
        result = name_segments(root, FakeBackend(server.url))
    zero, one = result.rows
    assert (zero["name"], zero["status"], zero["name_source"]) == ("Busy buyers", "partial",
                                                                   "model")
    assert zero["text"] == "Their share of purchases is 0.3 against 0.179 overall [1]."
    assert zero["description"] == "Their share of purchases is 0.3 against 0.179 overall."
    assert [c["verified"] for c in zero["claims"]] == [True, False]
    assert zero["badge"] == "1 of 2 claims verified"
    # segment 1: the model repeats a taken name twice → the computed name, status fallback
    assert (one["name"], one["status"], one["name_source"]) == ("Browsers", "fallback",
                                                                "computed")
    assert "[1]" in one["text"] and not RAW_TAG.search(one["text"])
    con = Workspace.open(root).connect()
    stored = con.execute("SELECT name, status, prompt_ref FROM segment_names ORDER BY segment"
                         ).fetchall()
    assert stored == [("Busy buyers", "partial", "segment_name@3"),
                      ("Browsers", "fallback", "segment_name@3")]


def _cli(monkeypatch: pytest.MonkeyPatch, url: str, args: list[str]) -> Any:
    app = typer.Typer(pretty_exceptions_enable=False)
    tool_cmds.register(app)
    monkeypatch.setenv("INSIGHT_LLM__BACKEND", "openai-compatible")
    monkeypatch.setenv("INSIGHT_LLM__BASE_URL", url)
    monkeypatch.setenv("INSIGHT_LLM__MAX_RETRIES", "0")
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, args)
    finally:
        get_settings.cache_clear()


def test_cli_json_of_copy_and_segment_names(sample_ws: Path, sample_con: duckdb.DuckDBPyConnection,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    item, user = _gift(sample_con)
    good = {"variants": [{"headline": "A gift they can choose", "cta": "Take a look",
                          "claims": [_claim("It is sold by Amazon.", "F:item_brand")]}]}
    with scripted_server(lambda request: json.dumps(good)) as server:
        shown = _cli(monkeypatch, server.url, ["copy", "--item", item, "--user", user,
                                               "--channel", "push", "--variants", "1",
                                               "-w", str(sample_ws), "--json"])
        human = _cli(monkeypatch, server.url, ["copy", "--item", item, "--user", user,
                                               "--channel", "push", "--variants", "1",
                                               "-w", str(sample_ws)])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert list(data)[:2] == ["status", "text"] and data["status"] == "ok"
    [variant] = data["variants"]
    assert {"status", "text", "claims", "headline", "body", "sources", "badge"} <= set(variant)
    assert variant["text"] == "It is sold by Amazon [1]. Take a look."
    assert data["text"] == f"A gift they can choose\n{variant['text']}"
    assert variant["claims"][0]["verified"] is True
    assert human.exit_code == 0 and "1 of 1 claims verified" in human.stdout
    assert "[1] item brand: Amazon" in human.stdout and not RAW_TAG.search(human.stdout)

    root = _segments_ws(tmp_path / "ws")
    reply = {"name": "Busy buyers", "claims": [
        _claim("Their share of purchases is 0.3 against 0.179 overall.", "F:mean_share_purchase")]}
    with scripted_server(lambda request: json.dumps(reply)) as server:
        named = _cli(monkeypatch, server.url, ["name-segments", "-w", str(root), "--json"])
    assert named.exit_code == 0, named.output
    rows = json.loads(named.stdout)["rows"]
    assert {"status", "text", "claims", "badge", "name", "description"} <= set(rows[0])
    assert [r["status"] for r in rows] == ["ok", "fallback"]


@pytest.mark.parametrize(("description", "text", "uncited", "reason", "hint"), [
    ("Visit the world's most fascinating interiors in every issue.",
     "Visit the world's most fascinating interiors.",
     ClaimDraft("The most fascinating strings you can buy.", ["F:item_title"], "fact"),
     "ranks nothing", "'most fascinating' is in F:item_description"),
    (STRINGS, "Fender Guitar Strings give a bright tone and long sustain.",
     ClaimDraft("Fender Guitar Strings give a bright tone and long sustain.",
                ["F:mean_rating_given"], "fact"),
     "'bright' is not in the cited evidence", "F:item_description"),
])
def test_what_the_cited_description_says_passes_and_uncited_it_is_refused(
        description: str, text: str, uncited: ClaimDraft, reason: str, hint: str) -> None:
    """A superlative or a product feature quoted from the cited description passes; the same
    words resting on other facts (even when true) are refused, with a hint to the description."""
    checks = _checks(description=description)
    quoted = checks.claim(ClaimDraft(text, ["F:item_description"], "fact"))
    assert quoted.verified, quoted.reasons
    refused = checks.claim(uncited)
    assert not refused.verified and any(reason in r for r in refused.reasons), refused.reasons
    given = repair_hints(refused.text, refused.reasons, checks.evidence, refused.evidence)
    assert hint in given, given


def test_words_quoted_from_the_cited_description_are_not_claims_about_zero_or_a_voice(
        ) -> None:
    checks = _checks(zero=frozenset({"favs"}),
                     description="Dining that has become the favorite pastime of millions.")
    quoted = checks.claim(ClaimDraft("Dining that has become the favorite pastime of millions.",
                                     ["F:item_description"], "fact"))
    assert quoted.verified, quoted.reasons
    invented = checks.claim(ClaimDraft("Your favorite strings.", ["F:item_title"], "fact"))
    assert any("no favs" in r for r in invented.reasons), invented.reasons
    initials = checks.claim(ClaimDraft("T.G.I. Fender strings cost 5.99.",
                                       ["F:item_price"], "fact"))
    assert not any("reviewer" in r for r in initials.reasons), initials.reasons


def test_the_description_quoted_under_the_review_kind_is_held_to_the_description() -> None:
    checks = _checks(description=STRINGS)
    quoted = checks.claim(ClaimDraft("Nickel-wound strings with a bright tone.",
                                     ["F:item_description"], "review"))
    assert quoted.verified, quoted.reasons
    customers = checks.claim(ClaimDraft("Customers say the strings have a bright tone.",
                                        ["F:item_description"], "review"))
    assert any("must cite a review" in r for r in customers.reasons), customers.reasons


def test_a_review_claim_adding_to_its_review_is_refused() -> None:
    checks = _checks()
    review = ReviewEvidence("r1", "They loved it! The card arrived quickly.", 5.0,
                            "2014-01-02", "B01", "Gift")
    checks.evidence = EvidenceSet(facts=checks.evidence.facts, reviews={"r1": review},
                                  context=checks.evidence.context)
    quoted = checks.claim(ClaimDraft("They loved it! The card arrived quickly.", ["R:r1"],
                                     "review"))
    assert quoted.verified, quoted.reasons
    added = checks.claim(ClaimDraft("They loved it! The card was a great value for money.",
                                    ["R:r1"], "review"))
    assert any("'value' is not in the cited evidence" in r for r in added.reasons), added.reasons
