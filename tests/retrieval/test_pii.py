"""PII masking of review text: each kind of identifier, ordinary text untouched, the planted
fixture, and masking before indexing and before prompts (switchable)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from benchmarks.pii_masking import leaked, planted_report
from retrieval.chroma_store import ChromaStore
from retrieval.documents import review_documents
from retrieval.indexer import Indexer
from retrieval.pii import card_network_ok, luhn_ok, mask_pii, mask_text, reviewer_names
from retrieval.store import REVIEWS
from tests.retrieval.conftest import HashEmbedder

PLANTED = Path(__file__).resolve().parents[1] / "fixtures" / "pii_planted.jsonl"


@pytest.mark.parametrize(("text", "kind", "secret"), [
    ("write to jane.doe+shop@example.co.uk today", "email", "jane.doe+shop@example.co.uk"),
    ("mail PAT_Jones@Hotmail.COM.", "email", "PAT_Jones@Hotmail.COM"),
    ("reach me: sam [at] musicshop [dot] net", "email", "musicshop"),
    ("it's lisa at gmail dot com", "email", "lisa"),
    ("support (212) 555-0198 was slow", "phone", "555-0198"),
    ("call 212.555.0123 now", "phone", "0123"),
    ("toll free 1-800-555-0199.", "phone", "0199"),
    ("dealer +1 415 555 2671", "phone", "2671"),
    ("ring +44 20 7946 0958 please", "phone", "7946"),
    ("mobile 07700 900123", "phone", "900123"),
    ("manchester (0161) 496 0000", "phone", "496"),
    ("Berlin +49 30 12345678", "phone", "12345678"),
    ("Paris +33 1 23 45 67 89", "phone", "67"),
    ("text me at 555-0172 later", "phone", "0172"),
    ("my cell is 4155552671", "phone", "4155552671"),
    ("ship to 123 Main Street today", "address", "Main"),
    ("to 4567 Oak Ave, Apt 5B - moved", "address", "5B"),
    ("1600 Pennsylvania Avenue NW, Washington, DC 20500 as a gift", "address", "20500"),
    ("at 221B Baker Street, London NW1 6XE.", "address", "6XE"),
    ("return to 1428 elm street, thanks", "address", "elm"),
    ("warranty to PO Box 4432", "address", "4432"),
    ("an Hauptstraße 12, 10115 Berlin", "address", "10115"),
    ("Visa 4111 1111 1111 1111 charged", "card", "1111"),
    ("MC 5105-1051-0510-5100 refunded", "card", "5100"),
    ("Amex 3782 822463 10005 points", "card", "822463"),
    ("card 4242424242424242 on file", "card", "4242424242424242"),
    ("Discover 6011 1111 1111 1117.", "card", "1117"),
])
def test_each_kind_is_masked(text: str, kind: str, secret: str) -> None:
    masked, counts = mask_pii(text)
    assert secret not in masked and f"[{kind}]" in masked, masked
    assert counts[kind] >= 1 and sum(counts.values()) == counts[kind]


@pytest.mark.parametrize("text", [
    "Great SM58 clone, Model 2045 works with the AT2020 and a UMC204HD.",
    "Paid $1,299.99 in 2014; now $849.00 (save 35%). Rated 4.5/5 stars.",
    "Bought 03/16/2013, arrived 2014-03-24, returned on March 3rd, 2015.",
    "A 12 inch sub, 1/4\" jack, 3.5mm plug, 9V battery, 6 ft cable, 88-key board.",
    "ISBN 978-0-306-40615-7, UPC 012345678905, EAN 4006381333931, SKU 4471-22.",
    "Firmware 2.1.4, serial 12345678901, part number 8675309, order 112-3456789-0123456.",
    "It's a 2 way switch; 10 minute drive to the store; 5 string bass; 4 x 6 speakers.",
    "My phone case fits the iPhone 12 Pro from 2021; the 4111 pedal and the 5555 amp.",
    "Used 3 times in 2 weeks, 1 star off. Call it a 10 out of 10!",
    "Open 9:30-17:00, 24/7 support, 100-240V, 50/60 Hz, 1000 mAh, 1-2-3 setup.",
    "this mike is great for vocals",
])
def test_ordinary_review_text_is_untouched(text: str) -> None:
    masked, counts = mask_pii(text, names=["Mike"])
    assert masked == text and not any(counts.values())


def test_card_numbers_must_pass_luhn_and_look_like_a_card() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert card_network_ok("378282246310005") and not card_network_ok("978030640615700")
    assert mask_pii("card 4111 1111 1111 1112")[0] == "card 4111 1111 1111 1112"
    assert mask_pii("code 9780306406157123")[0] == "code 9780306406157123"  # no card network
    assert mask_pii("4111 1111 1111 1111 2 stars")[0] == "[card] 2 stars"  # trailing group kept


def test_reviewer_names_are_masked_as_names_only() -> None:
    text = "Thanks, Sarah. -- SARAH  JOHNSON. Sarah's review; Mrs. Johnson's Johnson amp."
    masked, counts = mask_pii(text, names=["Sarah Johnson"])
    assert masked == ("Thanks, [name]. -- [name]. [name]'s review; Mrs. [name]'s Johnson amp.")
    assert counts["name"] == 4  # a bare surname may be a brand: only after a title/initial
    assert mask_pii("Don't. Don", names=["Don Geeze"])[0] == "Don't. [name]"
    assert mask_pii("Robert C. Ross, 2017", names=["Robert C Ross"])[0] == "[name], 2017"
    assert mask_pii("my Fender amp", names=['Fender Guy "Rick"'])[0] == "my Fender amp"
    assert mask_pii("- Kasia S. :)", names=["Kasia S."])[0] == "- [name] :)"
    assert mask_pii("Jake here", names=["Jake"])[0] == "[name] here"
    assert mask_pii("Bob says hi", names=['Robert "Bob" Miller'])[0] == "[name] says hi"
    assert mask_pii("guitarhero88 approves", names=["guitarhero88"])[0] == "[name] approves"
    # placeholder display names hide nothing; other names of the same user are hidden too
    assert mask_pii("Amazon Customer service", names=["Amazon Customer"])[0] == \
        "Amazon Customer service"
    assert mask_pii("Karen Jones here", names=["K. Jones", "Karen Jones"])[0] == "[name] here"
    assert reviewer_names(['David W "Dave"', "Kindle Customer", "Rick from Westport, MA",
                           'cassandra tu "Yeah, well, that\'s just like, u...']) == [
        "David W", "Dave", "Rick from Westport, MA", "Rick", "Westport", "cassandra tu"]


def test_mask_text_can_be_switched_off() -> None:
    text = "mail me: a.b@example.com"
    assert mask_text(text) == "mail me: [email]"
    assert mask_text(text, enabled=False) == text
    assert mask_text(None) is None and mask_pii("") == ("", dict.fromkeys(
        ("email", "card", "phone", "address", "name"), 0))


def test_planted_fixture_is_fully_masked() -> None:
    """Every identifier of the planted set (50+ reviews) is masked; context strings survive."""
    report = planted_report(PLANTED)
    assert report["reviews"] >= 50 and report["identifiers"] >= 70
    assert set(report["by_kind"]) == {"email", "phone", "address", "card", "name"}
    assert report["missed"] == [] and report["recall"] == 1.0
    assert report["kept_strings"]["broken"] == []
    assert leaked("212-555-0198", "call 212-[phone]", set()) == ["212"]  # partial = missed


ROGUE = ("Ask me: rogue.fan@example.com or (212) 555-0198; I live at 12 Elm Grove, Leeds LS6 "
         "2AB. Paid with 4111 1111 1111 1111. -- Zelda Quixote")


def _plant(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str]:
    """Give one reviewer a name and PII in every review text; (source, user, review id)."""
    source, user, review = con.execute(
        "SELECT source, user_id, min(review_id) FROM reviews WHERE source = "
        "'musical_instruments' GROUP BY ALL ORDER BY count(*) DESC, user_id LIMIT 1").fetchone()
    con.execute("UPDATE reviews SET text = ?, reviewer_name = 'Zelda Quixote' "
                "WHERE source = ? AND user_id = ?", [ROGUE, source, user])
    return source, user, review


def _assert_masked(text: str) -> None:
    for secret in ("rogue.fan", "555-0198", "Elm Grove", "LS6", "4111", "Zelda", "Quixote"):
        assert secret not in text, (secret, text)
    assert "[email]" in text and "[card]" in text and "[name]" in text


def test_index_documents_are_masked_unless_switched_off(
        workspace_copy: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    source, _, review = _plant(workspace_copy)
    docs = {d.id: d for d in review_documents(workspace_copy, [source])}
    _assert_masked(docs[review].text)
    raw = {d.id: d for d in review_documents(workspace_copy, [source], mask_pii=False)}
    assert ROGUE in raw[review].text
    workspace_copy.execute("DELETE FROM reviews WHERE review_id NOT IN (SELECT review_id FROM "
                           "reviews WHERE reviewer_name = 'Zelda Quixote')")
    store = ChromaStore.persistent(tmp_path / "chroma")
    Indexer(store, HashEmbedder(), tmp_path / ".lock", progress=False).run(
        workspace_copy, collections=[REVIEWS])
    _assert_masked(store.get(REVIEWS, [review]).documents[0])
    switched = Indexer(store, HashEmbedder(), tmp_path / ".lock", progress=False,
                       mask_pii=False).run(workspace_copy, collections=[REVIEWS])
    assert switched.collections[REVIEWS].embedded >= 1  # the text changed: re-embedded
    assert ROGUE in store.get(REVIEWS, [review]).documents[0]


def test_prompts_and_facts_get_masked_review_text(
        workspace_copy: duckdb.DuckDBPyConnection) -> None:
    from assistant.facts import item_facts, user_facts
    from assistant.tools.summary import user_summary
    from tests.assistant.toolkit import FakeBackend, last_user_text, scripted_server

    source, user, review = _plant(workspace_copy)
    facts = user_facts(workspace_copy, user, source)
    for r in facts.reviews:
        _assert_masked(r.text or "")
    item = workspace_copy.execute("SELECT item_id FROM reviews WHERE review_id = ?",
                                  [review]).fetchone()[0]
    planted = [r for r in item_facts(workspace_copy, source, item).reviews
               if r.review_id == review]
    _assert_masked(planted[0].text or "")
    assert ROGUE in (user_facts(workspace_copy, user, source, mask_pii=False).reviews[0].text
                     or "")
    with scripted_server(lambda request: "A reviewer [F:events].") as server:
        user_summary(user, source, con=workspace_copy, backend=FakeBackend(server.url))
        masked_prompt = last_user_text(server.requests[0])
        server.requests.clear()
        user_summary(user, source, con=workspace_copy, backend=FakeBackend(server.url),
                     mask_pii=False)
        raw_prompt = last_user_text(server.requests[0])
    _assert_masked(masked_prompt)
    assert "rogue.fan@example.com" in raw_prompt
