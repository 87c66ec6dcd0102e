"""The grounding rules: which numbers pass, which are caught, and that the text a tool returns
is always one that passed the check (retry once, then the facts-only fallback)."""

from __future__ import annotations

import pytest

from assistant.claims.schema import tagged_claims
from assistant.claims.verify import EvidenceSet
from assistant.grounding import check_numbers, check_personal
from assistant.tools.generation import limit_kwargs
from assistant.tools.narrate import clean, complete_sentences, narrate
from assistant.tools.trace import ToolRun
from tests.assistant.toolkit import FakeBackend, scripted_server

FACTS = {"intent_probability": 0.4216, "events": 84287, "mean_rating_given": 4.74,
         "last_activity": "2017-12-04", "purchase_spend": 1234.5}


@pytest.mark.parametrize("text", [
    "Purchase probability 42.2% [F:intent_probability].",
    "Purchase probability 0.42 [F:intent_probability].",
    "Purchase probability 42% [F:intent_probability].",
    "84,287 events [F:events].",
    "Average rating 4.7 [F:mean_rating_given].",
    "Last active on December 4, 2017 [F:last_activity].",
    "Last active on 2017-12-04 [F:last_activity].",
    "Last active on Dec 4th [F:last_activity], in 2017.",
    "Last active in December 2017 [F:last_activity].",
    "Spent 1,234.50 [F:purchase_spend].",
])
def test_formatted_forms_of_tool_numbers_pass(text: str) -> None:
    assert check_numbers(text, FACTS) == []


@pytest.mark.parametrize("text, bad", [
    ("Purchase probability 57% [F:intent_probability].", "57"),
    ("84,288 events [F:events].", "84288"),
    ("Active for 9 years [F:events].", "9"),
    ("Average rating 4.81 [F:mean_rating_given].", "4.81"),
    ("Last active on December 19, 2017 [F:last_activity].", "2017-12-19"),
    ("Last active in March 2017 [F:last_activity].", "2017-03"),
    ("A low-rating share of 12% [F:last_activity].", "12"),  # a date's month: no number
    ("8,428,700 events [F:events].", "8428700"),  # a count has no percent form
])
def test_numbers_not_in_the_tool_result_are_caught(text: str, bad: str) -> None:
    assert [v.value for v in check_numbers(text, FACTS)] == [bad]


def test_only_a_share_is_written_as_a_percentage() -> None:
    """A share of 0.05 may be "5%"; a count of 5 (a number, or digits in a text) is never
    "500" — the copy verifier once let "500 reviews" through for a review count of 5."""
    assert check_numbers("5% of reviews", {"low_share": 0.05}) == []
    assert [v.value for v in check_numbers("500 reviews", {"review_count": 5})] == ["500"]
    assert [v.value for v in check_numbers("500 reviews", {"review_count": "5"})] == ["500"]
    assert check_numbers("37.4% of reviews", {"share": "0.374"}) == []
    assert check_numbers("116.4% of carts", {"cart_to_purchase_rate": 1.1636}) == []
    assert [v.value for v in check_numbers("500 reviews", {"review_count": 5.0})] == ["500"]


def test_review_text_numbers_are_not_evidence() -> None:
    """Numbers may come from a review's trusted fields, never from its (untrusted) text."""
    review = {"review_id": "r1", "rating": 2.0, "date": "2016-03-01"}
    assert check_numbers("Rated 2 [R:r1].", review) == []
    assert [v.value for v in check_numbers("Paid 40 [R:r1].", review)] == ["40"]


def test_personal_attributes_are_flagged() -> None:
    found = {v.value.lower() for v in check_personal("A 30-year-old male who lives in Ohio.")}
    assert found == {"male", "lives in"}
    assert check_personal("Buys single-origin coffee and guitar strings.") == []


def test_unfinished_last_sentence_is_dropped() -> None:
    assert complete_sentences("Active [F:events]. Rated 4.74 on aver") == "Active [F:events]."
    assert complete_sentences("Active [F:events] [F:views].") == "Active [F:events] [F:views]."
    assert clean("Summary: Active  [F: events]. Next") == "Active [F:events]."


def test_prose_limit_reaches_the_request_body() -> None:
    class Chat:
        extra_body = {"max_tokens": 512}

    assert limit_kwargs(Chat(), 180) == {"max_tokens": 180, "extra_body": {"max_tokens": 180}}
    assert limit_kwargs(object(), 180) == {"max_tokens": 180}
    assert limit_kwargs(Chat(), None) == {}


def _narrate(replies: list[str], fallback: str) -> tuple[object, list[dict]]:
    answers = iter(replies)
    with scripted_server(lambda request: next(answers)) as server:
        result = narrate(FakeBackend(server.url), [("user", "write")],
                         evidence=EvidenceSet(facts=FACTS), run=ToolRun(tool="t", model="m"),
                         fallback=tagged_claims(fallback), min_claims=1,
                         extra_check=check_personal, max_tokens=64)
        return result, server.requests


def test_violating_text_is_retried_then_replaced_by_the_fallback() -> None:
    fallback = "84,287 events [F:events]."
    result, requests = _narrate(["A male shopper with 99 events [F:events].",
                                 "Still 99 events [F:events]."], fallback)
    assert result.status == "fallback" and result.text == "84,287 events [1]."  # never a
    # violating text; the template's tag became a numbered citation into the sources
    assert len(requests) == 2 and "99" in str(requests[1]["messages"][-1])
    # ChatOpenAI sends the limit as max_completion_tokens (the embedded backend adds max_tokens)
    assert all(r.get("max_completion_tokens", r.get("max_tokens")) == 64 for r in requests)
    assert [len(a.violations) for a in result.attempts] == [2, 1]
    assert check_numbers(result.text, FACTS) == [] and [s["id"] for s in result.sources] == [
        "F:events"]


def test_grounded_retry_is_returned_as_checked() -> None:
    result, _ = _narrate(["Active for 9 years [F:events].", "84,287 events [F:events]."],
                         "unused")
    # the retry's claim is shown; the first draft's refused claim makes the answer partial
    assert result.status == "partial" and result.text == "84,287 events [1]."
    assert check_numbers(result.text, FACTS) == []
