"""The second development set (`questions_dev2.jsonl`, split dev2) is well formed, separate from
the frozen `questions.jsonl`, and its gold equals a recomputation from the raw shared files."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from assistant.evaluation.strict import DEV2_PATH, QUESTIONS_PATH, load_questions, score_answer
from benchmarks.operator_questions import gold as gold_script
from benchmarks.operator_questions.raw import find_shared


@pytest.fixture(scope="module")
def dev2() -> list[dict[str, Any]]:
    if not DEV2_PATH.exists():
        pytest.skip("benchmarks/operator_questions/questions_dev2.jsonl not present")
    return load_questions(split="dev2")


def test_dev2_structure(dev2: list[dict[str, Any]]) -> None:
    assert len(dev2) == len(load_questions(DEV2_PATH)), "every row is split dev2"
    assert gold_script.validate(dev2, extension=True) == []
    ids = Counter(q["id"] for q in dev2)
    assert max(ids.values()) == 1
    by_canonical: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in dev2:
        assert q["id"].startswith("d2_") and q["canonical_id"].startswith("d2_"), q["id"]
        assert q["kind"] in gold_script.KINDS, q["id"]
        assert q["gold"] and q["notes"], q["id"]
        assert q["gold"].get("unanswerable", False) == (q["kind"] == "unanswerable"), q["id"]
        assert (len(q["turns"]) == 2) if q["kind"] == "dialogue" else q["text"], q["id"]
        by_canonical[q["canonical_id"]].append(q)
    for canonical, group in by_canonical.items():
        assert len(group) >= 3, canonical
        assert len({str(q["gold"]) for q in group}) == 1, canonical
    hard_kinds = {q["hard_kind"] for q in dev2 if q["kind"] == "hard"}
    assert hard_kinds == set(gold_script.HARD_KINDS)
    assert {q["kind"] for q in dev2} == set(gold_script.KINDS)


def test_dev2_does_not_reuse_the_original_ids(dev2: list[dict[str, Any]]) -> None:
    if not QUESTIONS_PATH.exists():
        pytest.skip("questions.jsonl not present")
    original = load_questions()
    assert not {q["canonical_id"] for q in original} & {q["canonical_id"] for q in dev2}
    assert not {q["id"] for q in original} & {q["id"] for q in dev2}


def test_every_dev2_gold_scores_itself(dev2: list[dict[str, Any]]) -> None:
    for q in dev2:
        gold = q["gold"]
        answer = {"text": "", "refused": bool(gold.get("unanswerable")), "fallback": False,
                  "flags_doubt": False, "primary_value": gold.get("value"),
                  "unit": gold.get("value_unit") or gold.get("unit"),
                  "primary_entity": gold.get("entity"), "direction": gold.get("direction")}
        verdict = score_answer(q, answer)
        assert verdict.correct, (q["id"], verdict.reason)


def test_dev2_gold_matches_a_recomputation_from_the_raw_files(
        dev2: list[dict[str, Any]]) -> None:
    try:
        find_shared()
    except FileNotFoundError:
        pytest.skip("shared data not present")
    assert gold_script.main(["--file", str(DEV2_PATH), "--split-name", "dev2", "--check"]) == 0
    # the dev2 functions do not disturb the frozen set's check
    if QUESTIONS_PATH.exists():
        assert gold_script.main(["--check"]) == 0
