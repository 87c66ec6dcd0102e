"""Repair hints: the ids that hold a refused claim's word or number."""

from __future__ import annotations

from assistant.claims.hints import repair_hints
from assistant.claims.schema import ClaimDraft
from assistant.claims.verify import EvidenceSet, ReviewEvidence, verify_claim

DESCRIPTION = "Satisfy your passion for stylish living. Find great ways to use color."
EVIDENCE = EvidenceSet(
    facts={"item_title": "Home Living", "item_description": DESCRIPTION,
           "item_review_count": 19, "item_mean_rating": 4.2},
    reviews={"r1": ReviewEvidence(review_id="r1", rating=5.0, title="Perfect gift",
                                  text="The one spot powers eight pedals.", date=None)})


def _hints(text: str, evidence: list[str]) -> str:
    verdict = verify_claim(ClaimDraft(text, evidence, "fact"), EVIDENCE)
    assert not verdict.verified
    return repair_hints(verdict.text, verdict.reasons, EVIDENCE)


def test_a_copied_description_sentence_is_pointed_at_the_description() -> None:
    hint = _hints("Love color? Find great ways to use it.", ["F:item_title"])
    assert "Find is F:item_description" in hint, hint


def test_a_name_from_a_review_is_pointed_at_the_review() -> None:
    assert "Spot is R:r1" in _hints("Try the One Spot today.", ["F:item_title"])


def test_a_number_is_pointed_at_the_fact_it_is_the_value_of() -> None:
    hint = _hints("It has 19 reviews.", ["F:item_title"])
    assert "19 is F:item_review_count" in hint, hint


def test_a_word_in_no_evidence_is_to_be_dropped() -> None:
    hint = _hints("Made by Yamaha for you.", ["F:item_title"])
    assert "'Yamaha' is in no fact or review: drop it" in hint, hint


def test_no_hint_for_other_problems() -> None:
    assert repair_hints("x", ["write one short sentence per claim"], EVIDENCE) == ""


def test_a_misread_number_is_shown_the_cited_fact_it_came_from() -> None:
    evidence = EvidenceSet(facts={"item_users_percentile": "more users than 99% of the items",
                                  "item_users": 73})
    text = "The item has more users than 96% of the items."
    verdict = verify_claim(ClaimDraft(text, ["F:item_users_percentile", "F:item_users"], "fact"),
                           evidence)
    hint = repair_hints(verdict.text, verdict.reasons, evidence, verdict.evidence)
    assert "96 is in no fact; F:item_users_percentile says 'more users than 99%" in hint, hint


def test_a_judgement_without_comparison_is_pointed_at_the_fact_that_compares() -> None:
    evidence = EvidenceSet(facts={
        "item_mean_rating": 4.69,
        "item_users_percentile": "more users than 99% of the items",
        "item_rating_percentile": "a higher mean rating than 47% of the reviewed items"})
    verdict = verify_claim(ClaimDraft("The item has a good mean rating of 4.69.",
                                      ["F:item_mean_rating"], "fact"), evidence)
    hint = repair_hints(verdict.text, verdict.reasons, evidence, verdict.evidence)
    assert "to compare, cite F:item_rating_percentile says 'a higher mean rating than 47%" in (
        hint), hint
