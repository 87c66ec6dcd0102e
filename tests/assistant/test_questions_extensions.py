"""The development sets that extend the frozen `questions.jsonl` (`questions_dev2.jsonl` …
`questions_dev5.jsonl`: splits dev2, dev3, dev4, dev5) are well formed, separate from it and
from each other, and their gold equals a recomputation from the raw shared files."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from assistant.evaluation.strict import (
    EXTENSION_PATHS,
    QUESTIONS_PATH,
    load_questions,
    score_answer,
)
from benchmarks.operator_questions import gold as gold_script
from benchmarks.operator_questions.raw import find_shared

KINDS_REQUIRED = {
    "dev2": set(gold_script.KINDS),
    "dev3": {"dialogue", "unanswerable"},
    "dev4": {"plain", "casual", "hard"},
    "dev5": set(gold_script.KINDS),
}
"""The kinds each file must hold: dev2 and dev5 every kind (and every hard kind), dev3 and
dev4 the kinds they were written for."""


@pytest.fixture(scope="module", params=sorted(EXTENSION_PATHS))
def extension(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    split = request.param
    if not EXTENSION_PATHS[split].exists():
        pytest.skip(f"{EXTENSION_PATHS[split].name} not present")
    return split, load_questions(split=split)


def test_structure(extension: tuple[str, list[dict[str, Any]]]) -> None:
    split, rows = extension
    prefix = gold_script.EXTENSION_PREFIXES[split]
    assert len(rows) == len(load_questions(EXTENSION_PATHS[split])), f"every row is split {split}"
    assert gold_script.validate(rows, extension=split) == []
    assert max(Counter(q["id"] for q in rows).values()) == 1
    by_canonical: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in rows:
        assert q["id"].startswith(prefix) and q["canonical_id"].startswith(prefix), q["id"]
        assert q["kind"] in gold_script.KINDS, q["id"]
        assert q["gold"] and q["notes"], q["id"]
        assert q["gold"].get("unanswerable", False) == (q["kind"] == "unanswerable"), q["id"]
        assert (len(q["turns"]) == 2) if q["kind"] == "dialogue" else q["text"], q["id"]
        by_canonical[q["canonical_id"]].append(q)
    for canonical, group in by_canonical.items():
        assert len(group) >= 3, canonical
        assert len({str(q["gold"]) for q in group}) == 1, canonical
    assert {q["kind"] for q in rows} >= KINDS_REQUIRED[split]
    if split in ("dev2", "dev5"):
        assert {q["hard_kind"] for q in rows if q["kind"] == "hard"} == set(gold_script.HARD_KINDS)


def test_ids_are_not_reused(extension: tuple[str, list[dict[str, Any]]]) -> None:
    split, rows = extension
    others = [load_questions(path) for name, path in EXTENSION_PATHS.items()
              if name != split and path.exists()]
    if QUESTIONS_PATH.exists():
        others.append(load_questions())
    for other in others:
        assert not {q["canonical_id"] for q in other} & {q["canonical_id"] for q in rows}
        assert not {q["id"] for q in other} & {q["id"] for q in rows}


def test_every_gold_scores_itself(extension: tuple[str, list[dict[str, Any]]]) -> None:
    for q in extension[1]:
        gold = q["gold"]
        answer = {"text": "", "refused": bool(gold.get("unanswerable")), "fallback": False,
                  "flags_doubt": False, "primary_value": gold.get("value"),
                  "unit": gold.get("value_unit") or gold.get("unit"),
                  "primary_entity": gold.get("entity"), "direction": gold.get("direction")}
        verdict = score_answer(q, answer)
        assert verdict.correct, (q["id"], verdict.reason)


def test_gold_matches_a_recomputation_from_the_raw_files(
        extension: tuple[str, list[dict[str, Any]]]) -> None:
    try:
        find_shared()
    except FileNotFoundError:
        pytest.skip("shared data not present")
    split = extension[0]
    assert gold_script.main(["--file", str(EXTENSION_PATHS[split]), "--split-name", split,
                             "--check"]) == 0
    # an extension's functions do not disturb the frozen set's check
    if QUESTIONS_PATH.exists():
        assert gold_script.main(["--check"]) == 0
