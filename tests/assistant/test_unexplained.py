"""Words no part of the resolver accounts for are said in the answer, and make code unsure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.evaluation.answer_record import DOUBT
from assistant.tools.ask import ask
from assistant.tools.resolve import Hints, parsed_with_certainty
from assistant.tools.unexplained import (
    spelled,
    unexplained_note,
    unexplained_words,
    unmatched_subject,
)
from tests.assistant.toolkit import FakeBackend, sample_con, sample_ws, scripted_server

__all__ = ["sample_con", "sample_ws"]

SOURCES = ["taobao", "rees46", "musical_instruments"]


@pytest.mark.parametrize("question", [
    "how many purchases in taobao last week?",
    "which brand had the most revenue in rees46",
    "avg rating of MI reviews in 2013",
    "how many ppl carted but never bought smth in tb",
    "what share of views led to a cart on dec 1?",
    "and in november?",
])
def test_words_the_resolver_reads_are_explained(question: str) -> None:
    assert unexplained_words(question, Hints(), SOURCES) == []


@pytest.mark.parametrize(("question", "words"), [
    ("how many users used a coupon in taobao", ["coupon"]),
    ("avg delivery rating per courier in rees46", ["delivery", "courier"]),
    ("how many buyers paid by paypal", ["paypal"]),  # "paid" is a purchase word
])
def test_unknown_words_are_listed_in_order(question: str, words: list[str]) -> None:
    assert unexplained_words(question, Hints(), SOURCES) == words


def test_names_found_in_the_data_are_explained() -> None:
    hints = Hints(brands=["samsung"], categories=["electronics.smartphone"])
    found = unexplained_words("samsung smartphone views in rees46", hints, SOURCES)
    assert found == []
    assert unexplained_words("samsung smartphone views in rees46", Hints(), SOURCES) == [
        "samsung", "smartphone"]


def test_the_note_flags_doubt_and_names_the_words() -> None:
    assert unexplained_note([]) == []
    (note,) = unexplained_note(["coupon"])
    assert "'coupon'" in note and DOUBT.search(note)


def test_unexplained_words_make_code_unsure() -> None:
    assert parsed_with_certainty(Hints(metric="purchases"))
    assert not parsed_with_certainty(Hints(metric="purchases", unexplained=["coupon"]))


def test_offline_answer_says_which_words_it_left_out(sample_con: Any) -> None:
    plain = ask("how many users in taobao?", sample_con, None, min_group_size=1)
    odd = ask("how many users felt grumpy in taobao?", sample_con, None, min_group_size=1)
    assert plain.answerable and odd.answerable
    assert "grumpy" not in plain.answer
    assert "'felt', 'grumpy'" in odd.answer and DOUBT.search(odd.answer)
    assert odd.answer.split(" I ")[0] == plain.answer.split(" I ")[0]  # same figure first


@pytest.mark.parametrize(("question", "thing"), [
    ("how many users used a coupon in taobao?", "'coupon'"),
    ("how many ppl paid w/ paypal on taobao", "'paypal'"),
    ("What share of taobao events come from the mobile app?", "'mobile'"),
])
def test_an_unknown_thing_is_refused_not_left_out(sample_con: Any, question: str,
                                                  thing: str) -> None:
    result = ask(question, sample_con, None, min_group_size=1)
    assert not result.answerable and result.plan_source == "none"
    assert f"no source records anything called {thing}" in result.answer


def test_unknown_verbs_are_not_things() -> None:
    assert unmatched_subject("how many events were logged in taobao", ["logged"]) is None
    assert unmatched_subject("how many sessions included a purchase", ["included"]) is None
    assert unmatched_subject("revenue lost to promo codes", ["promo"]) == "anything called 'promo'"


def test_typos_of_known_words_are_fixed_and_said(sample_con: Any) -> None:
    text, fixed = spelled("how many customers actualy purchsed on taobao", SOURCES)
    assert fixed == {"actualy": "actually", "purchsed": "purchased"}
    assert text == "how many customers actually purchased on taobao"
    assert spelled("how many rees46 purchases of xiaomi", SOURCES)[1] == {}  # names stay
    typo = ask("how many purchses in taobao?", sample_con, None, min_group_size=1)
    plain = ask("how many purchases in taobao?", sample_con, None, min_group_size=1)
    assert typo.rows == plain.rows and typo.answerable
    assert "I read 'purchses' as 'purchases'." in typo.answer and "could not" not in typo.answer


def test_model_and_code_agreeing_on_unsupported_refuse(sample_con: Any) -> None:
    def respond(request: dict[str, Any]) -> str:
        return json.dumps({"metric": "unsupported"})

    with scripted_server(respond) as server:
        backend = FakeBackend(server.url)
        odd = ask("how many taobao users felt grumpy?", sample_con, backend,
                  min_group_size=1)
        certain = ask("how many purchases in taobao?", sample_con, backend, min_group_size=1)
        hinted = server.requests[0]["messages"][-1]["content"]
    assert not odd.answerable and "can't answer" in odd.answer
    assert "unknown_words=felt,grumpy" in hinted
    assert certain.answerable and certain.plan_source == "rules"  # no LLM call, no refusal
    assert len(server.requests) == 1
