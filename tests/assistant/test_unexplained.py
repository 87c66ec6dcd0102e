"""Words no part of the resolver accounts for are said in the answer, and make code unsure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.evaluation.answer_record import DOUBT
from assistant.tools.ask import ask
from assistant.tools.resolve import Hints, parsed_with_certainty
from assistant.tools.unexplained import unexplained_note, unexplained_words
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
    odd = ask("how many users used a coupon in taobao?", sample_con, None, min_group_size=1)
    assert plain.answerable and odd.answerable
    assert "coupon" not in plain.answer
    assert "'coupon'" in odd.answer and DOUBT.search(odd.answer)
    assert odd.answer.split(" I ")[0] == plain.answer.split(" I ")[0]  # same figure first


def test_model_and_code_agreeing_on_unsupported_refuse(sample_con: Any) -> None:
    def respond(request: dict[str, Any]) -> str:
        return json.dumps({"metric": "unsupported"})

    with scripted_server(respond) as server:
        backend = FakeBackend(server.url)
        odd = ask("how many users used a coupon in taobao?", sample_con, backend,
                  min_group_size=1)
        certain = ask("how many purchases in taobao?", sample_con, backend, min_group_size=1)
        hinted = server.requests[0]["messages"][-1]["content"]
    assert not odd.answerable and "can't answer" in odd.answer
    assert "unknown_words=coupon" in hinted
    assert certain.answerable and certain.plan_source == "rules"  # no LLM call, no refusal
    assert len(server.requests) == 1
