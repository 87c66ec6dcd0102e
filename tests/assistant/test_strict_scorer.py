"""The strict scorer rejects what the lenient rule accepted, and the question set is well formed.

Each `test_lenient_*` case is an answer the old rule scores correct and the strict rule wrong:
a number only in the "Next:" suggestions, gold × 100 in another unit, the gold entity mentioned
but not the subject, the right figures with the wrong direction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from assistant.evaluation.strict import (
    QUESTIONS_PATH,
    convert,
    lenient_score,
    load_questions,
    score_answer,
    summarize,
)


def _q(gold: dict[str, Any], kind: str = "plain", **extra: Any) -> dict[str, Any]:
    return {"id": f"q.{kind}", "kind": kind, "split": "dev", "gold": gold, **extra}


def _a(text: str = "", **fields: Any) -> dict[str, Any]:
    return {"text": text, "primary_value": None, "unit": None, "primary_entity": None,
            "direction": None, "refused": False, "fallback": False, "flags_doubt": False,
            **fields}


REVENUE = _q({"value": 59442.63, "unit": "currency", "tolerance": 0.005})
CART_RATE = _q({"value": 0.25, "unit": "fraction", "tolerance": 0.01})
TOP_BRAND = _q({"value": 26951.25, "value_unit": "currency", "value_required": False,
                "unit": "entity", "tolerance": 0.005, "entity": "apple"})
NOV_DEC = _q({"value": [1146, 603], "unit": "count", "tolerance": 0, "value_required": False,
              "sides": ["november", "december"], "direction": "november",
              "direction_aliases": ["nov", "2017-11"], "change": "down"}, kind="hard",
             hard_kind="two_period_compare")
UNANSWERABLE = _q({"unanswerable": True, "reason": "no age"}, kind="unanswerable")


# --- the lenient behaviours the strict rule must not keep ------------------------------------

def test_lenient_number_in_next_list_does_not_count() -> None:
    answer = _a("Revenue was 12,000.00 in the slice.\nNext: compare with 59,442.63 last month?",
                primary_value=12000.0, unit="currency")
    assert lenient_score(REVENUE, answer)
    verdict = score_answer(REVENUE, answer)
    assert not verdict.correct
    assert "figure" in verdict.reason


def test_lenient_gold_times_100_does_not_count_when_units_differ() -> None:
    answer = _a("There were 25 add-to-carts.", primary_value=25, unit="count")
    assert lenient_score(CART_RATE, answer)
    assert not score_answer(CART_RATE, answer).correct
    # 25 declared as a fraction is not 0.25 either: no guessing by x100
    assert not score_answer(CART_RATE, _a("25", primary_value=25, unit="fraction")).correct


def test_percent_is_normalised_by_the_declared_unit() -> None:
    assert score_answer(CART_RATE, _a("25%", primary_value=25, unit="percent")).correct
    assert score_answer(CART_RATE, _a("0.25", primary_value=0.25, unit="rate")).correct
    assert score_answer(CART_RATE, _a("25.1%", primary_value=25.1, unit="%")).correct
    assert not score_answer(CART_RATE, _a("26%", primary_value=26, unit="percent")).correct
    assert convert(25, "percent", "currency") is None
    assert convert(25, None, "fraction") == 25


def test_lenient_entity_mentioned_but_not_subject() -> None:
    answer = _a("samsung has the highest revenue (13,872.40); apple is second with 26951.25.",
                primary_entity="samsung", primary_value=13872.4, unit="currency")
    assert lenient_score(TOP_BRAND, answer)
    verdict = score_answer(TOP_BRAND, answer)
    assert not verdict.correct
    assert verdict.checks["entity"] is False


def test_lenient_wrong_direction() -> None:
    answer = _a("November had 1146 purchases and December 603, so purchases went up.",
                primary_value=[1146, 603], unit="count", direction="december")
    assert lenient_score(NOV_DEC, answer)
    assert not score_answer(NOV_DEC, answer).correct
    assert not score_answer(NOV_DEC, {**answer, "direction": "up"}).correct
    assert not score_answer(NOV_DEC, {**answer, "direction": None}).correct


def test_lenient_ignores_fallbacks_strict_does_not() -> None:
    answer = _a("Revenue: 59,442.63", primary_value=59442.63, unit="currency", fallback=True)
    assert lenient_score(REVENUE, answer)
    assert score_answer(REVENUE, answer).reason == "fallback / template answer"


# --- what the strict rule accepts -------------------------------------------------------------

def test_right_figure_within_tolerance() -> None:
    assert score_answer(REVENUE, _a("59.4k", primary_value=59400, unit="money")).correct
    assert not score_answer(REVENUE, _a("59k", primary_value=59000, unit="money")).correct
    assert not score_answer(REVENUE, _a("no figure")).correct


def test_counts_are_exact() -> None:
    question = _q({"value": 558, "unit": "count", "tolerance": 0})
    assert score_answer(question, _a(primary_value=558.0, unit="users")).correct
    assert not score_answer(question, _a(primary_value=559, unit="count")).correct


def test_direction_by_side_alias_or_relative_word() -> None:
    base = _a(primary_value=[1146, 603], unit="count")
    for direction in ("november", "Nov", "2017-11", "down", "decreased"):
        assert score_answer(NOV_DEC, {**base, "direction": direction}).correct, direction
    # the figures need not be given, but wrong ones make the answer wrong
    assert score_answer(NOV_DEC, _a(direction="november")).correct
    wrong = {**base, "primary_value": [603, 1146], "direction": "november"}
    assert not score_answer(NOV_DEC, wrong).correct


def test_entity_subject_and_optional_figure() -> None:
    assert score_answer(TOP_BRAND, _a(primary_entity="Apple")).correct
    assert score_answer(TOP_BRAND, _a(primary_entity="apple", primary_value=33,
                                      unit="count")).correct  # another unit: not compared
    assert not score_answer(TOP_BRAND, _a(primary_entity="apple", primary_value=20000,
                                          unit="currency")).correct


def test_ties_need_the_whole_tied_set() -> None:
    question = _q({"value": 10, "value_unit": "count", "value_required": False,
                   "unit": "entity", "tolerance": 0, "entity": ["1004833", "1004856"],
                   "tied": ["1004833", "1004856"]}, kind="hard", hard_kind="top_n_ties")
    assert score_answer(question, _a(primary_entity=[1004856, 1004833])).correct
    assert not score_answer(question, _a(primary_entity="1004833")).correct
    assert lenient_score(question, _a("The best seller is 1004833 with 10 purchases."))


def test_dates_and_months() -> None:
    day = _q({"value": 11438, "value_unit": "count", "value_required": False, "unit": "date",
              "tolerance": 0, "entity": "2017-12-02"})
    assert score_answer(day, _a(primary_entity="2017-12-02T00:00:00+00:00")).correct
    assert not score_answer(day, _a(primary_entity="2017-12-03")).correct
    month = _q({"value": 551, "value_unit": "count", "value_required": False, "unit": "date",
                "tolerance": 0, "entity": "2014-01"})
    assert score_answer(month, _a(primary_entity="2014-01-01")).correct
    assert not score_answer(month, _a(primary_entity="2014-01-15")).correct


def test_two_metrics_in_order() -> None:
    question = _q({"value": [59442.63, 214], "unit": ["currency", "count"],
                   "tolerance": [0.005, 0]}, kind="hard", hard_kind="two_metrics")
    assert score_answer(question, _a(primary_value=[59442.63, 214],
                                     unit=["currency", "count"])).correct
    assert not score_answer(question, _a(primary_value=59442.63, unit="currency")).correct
    assert not score_answer(question, _a(primary_value=[214, 59442.63],
                                         unit=["count", "currency"])).correct


def test_refusals() -> None:
    assert score_answer(UNANSWERABLE, _a("I can't answer that", refused=True)).correct
    verdict = score_answer(UNANSWERABLE, _a("The average age is 34.", primary_value=34))
    assert not verdict.correct and verdict.reason == "answered an unanswerable question"
    assert not score_answer(REVENUE, _a("No data.", refused=True)).correct
    # a fallback is wrong even where a refusal would be right
    assert not score_answer(UNANSWERABLE, _a(refused=True, fallback=True)).correct
    assert lenient_score(UNANSWERABLE, _a(refused=True))


def test_summarize() -> None:
    verdicts = [
        score_answer(REVENUE, _a(primary_value=59442.63, unit="currency")),
        score_answer(REVENUE, _a(primary_value=1.0, unit="currency")),  # confidently wrong
        score_answer(REVENUE, _a(primary_value=1.0, unit="currency", flags_doubt=True)),
        score_answer(REVENUE, _a(refused=True)),  # false refusal, not "confident"
        score_answer(UNANSWERABLE, _a(refused=True)),
        score_answer(UNANSWERABLE, _a(primary_value=3)),  # confidently wrong
        score_answer(_q(NOV_DEC["gold"], kind="dialogue"), _a(direction="nov")),
    ]
    summary = summarize(verdicts)
    assert summary["n"] == 7 and summary["correct"] == 3
    assert summary["per_kind"]["plain"] == {"n": 4, "correct": 1, "accuracy": 0.25}
    assert summary["dialogue_accuracy"] == 1.0
    assert summary["unanswerable_refusal_rate"] == 0.5
    assert summary["false_refusal_rate"] == 0.2
    assert summary["confidently_wrong"] == 2
    assert summary["confidently_wrong_share_of_wrong"] == 0.5
    assert summarize([])["accuracy"] is None


# --- the question set itself -----------------------------------------------------------------

@pytest.fixture(scope="module")
def questions() -> list[dict[str, Any]]:
    if not QUESTIONS_PATH.exists():
        pytest.skip("benchmarks/operator_questions/questions.jsonl not present")
    return load_questions()


def test_question_set_sizes(questions: list[dict[str, Any]]) -> None:
    kinds = Counter(q["kind"] for q in questions)
    assert kinds["plain"] + kinds["casual"] >= 200
    assert kinds["hard"] >= 40 and kinds["dialogue"] >= 20 and kinds["unanswerable"] >= 20
    hard_kinds = {q["hard_kind"] for q in questions if q["kind"] == "hard"}
    assert hard_kinds == {"set_difference", "conditional_share", "time_bucket_peak",
                          "two_period_compare", "two_group_compare", "top_n_ties",
                          "two_metrics", "ratio", "per_user_distribution"}


def test_question_set_split_and_gold(questions: list[dict[str, Any]]) -> None:
    by_canonical: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in questions:
        by_canonical[q["canonical_id"]].append(q)
        assert q["gold"], q["id"]
        assert q["gold"].get("unanswerable", False) == (q["kind"] == "unanswerable"), q["id"]
        assert (len(q["turns"]) == 2) if q["kind"] == "dialogue" else q["text"], q["id"]
    for canonical, group in by_canonical.items():
        assert len(group) >= 3, canonical
        assert len({q["split"] for q in group}) == 1, canonical
        assert len({str(q["gold"]) for q in group}) == 1, canonical
    for kind in ("plain", "casual", "hard", "dialogue", "unanswerable"):
        splits = Counter(q["split"] for q in questions if q["kind"] == kind)
        assert abs(splits["dev"] - splits["test"]) <= 0.25 * sum(splits.values()), kind
    for hard_kind in {q["hard_kind"] for q in questions if q["kind"] == "hard"}:
        assert {q["split"] for q in questions if q.get("hard_kind") == hard_kind} == {
            "dev", "test"}, hard_kind


def test_every_gold_scores_itself(questions: list[dict[str, Any]]) -> None:
    """An answer built from the gold is strictly correct (the scorer reads the set's format)."""
    for q in questions:
        gold = q["gold"]
        if gold.get("unanswerable"):
            answer = _a(refused=True)
        else:
            answer = _a(primary_value=gold.get("value"),
                        unit=gold.get("value_unit") or gold.get("unit"),
                        primary_entity=gold.get("entity"), direction=gold.get("direction"))
        verdict = score_answer(q, answer)
        assert verdict.correct, (q["id"], verdict.reason)
