"""Strict scoring of structured answers against the operator question set.

The lenient rule of `metrics.number_matches` (any number anywhere in the prose equals the gold,
or the gold × 100) credits answers whose own figure is wrong. Here the answer is a structured
record and only its own claims count:

* ``primary_value`` (a number, or a list for two-metric and comparison questions) must equal the
  gold within the gold's relative tolerance, after converting by the answer's declared ``unit``
  (``percent`` → fraction divides by 100; a missing unit is compared as is, never guessed);
  a unit of another kind (a count for a fraction, a percent for money) is wrong;
* ``primary_entity`` (the answer's subject) must be the gold entity, or the exact set of tied
  entities; an entity only mentioned in ``text`` does not count;
* a comparison must state ``direction``: the winning side (or an alias), or a relative word
  (up / down, higher / lower) read as the second side against the first, in ``gold.sides`` order;
* ``refused`` is right only on unanswerable questions; answering one of them is wrong;
* ``fallback`` (a template or canned answer) is always wrong.

`lenient_score` keeps the old rule for continuity; `summarize` aggregates verdicts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUESTIONS_PATH = (Path(__file__).resolve().parents[2] / "benchmarks" / "operator_questions"
                  / "questions.jsonl")
DEV2_PATH = QUESTIONS_PATH.with_name("questions_dev2.jsonl")
"""The second development set (split "dev2"), written after tuning on dev."""
DEV3_PATH = QUESTIONS_PATH.with_name("questions_dev3.jsonl")
"""The third development set (split "dev3"): dialogues and questions the data cannot answer."""
DEV4_PATH = QUESTIONS_PATH.with_name("questions_dev4.jsonl")
"""The fourth development set (split "dev4"): plain, casual and harder questions again."""
DEV5_PATH = QUESTIONS_PATH.with_name("questions_dev5.jsonl")
"""The fifth development set (split "dev5"): every kind, written blind to the assistant's code."""
EXTENSION_PATHS = {"dev2": DEV2_PATH, "dev3": DEV3_PATH, "dev4": DEV4_PATH, "dev5": DEV5_PATH}
SPLITS = ("dev", "test", "dev2", "dev3", "dev4", "dev5")

_UNITS: dict[str, tuple[str, ...]] = {
    "count": ("count", "number", "n", "int", "integer", "events", "users", "items", "reviews",
              "purchases", "orders", "sessions", "people"),
    "fraction": ("fraction", "rate", "ratio", "share", "proportion", "probability"),
    "percent": ("percent", "%", "pct", "percentage"),
    "currency": ("currency", "money", "price", "revenue", "usd", "$", "eur", "rub"),
    "rating": ("rating", "stars", "star", "score"),
    "date": ("date", "day", "month", "week", "year"),
    "entity": ("entity", "name", "id"),
}
_UNIT_OF = {alias: unit for unit, aliases in _UNITS.items() for alias in aliases}
_UP = {"up", "higher", "increase", "increased", "more", "rise", "rose", "grew", "greater"}
_DOWN = {"down", "lower", "decrease", "decreased", "less", "fewer", "fell", "drop", "dropped",
         "declined"}
_EQUAL = {"equal", "same", "tie", "tied", "flat"}


@dataclass(frozen=True)
class StrictVerdict:
    """The strict verdict on one answer, with the reason when it is wrong."""

    question_id: str
    kind: str
    correct: bool
    reason: str
    refused: bool = False
    fallback: bool = False
    flags_doubt: bool = False
    hard_kind: str | None = None
    split: str | None = None
    checks: dict[str, bool] = field(default_factory=dict)


def load_questions(path: Path | None = None, split: str | None = None) -> list[dict[str, Any]]:
    """The operator questions (one JSON object per line), optionally one split only; `path`
    defaults to the split's extension file ("dev2", "dev3"), else to `QUESTIONS_PATH`."""
    path = path or EXTENSION_PATHS.get(split or "", QUESTIONS_PATH)
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [r for r in rows if split is None or r.get("split") == split]


# --- normalisation ---------------------------------------------------------------------------

def canonical_unit(unit: Any) -> str | None:
    """The canonical name of a declared unit (None when not declared)."""
    if unit is None:
        return None
    text = str(unit).strip().lower()
    return _UNIT_OF.get(text, text) if text else None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def convert(value: Any, answer_unit: Any, gold_unit: str) -> float | None:
    """`value`, declared in `answer_unit`, expressed in `gold_unit`; None when the units are of
    different kinds. Percent becomes a fraction only because it is declared so."""
    number = _as_number(value)
    if number is None:
        return None
    declared, wanted = canonical_unit(answer_unit), canonical_unit(gold_unit)
    if declared is None or declared == wanted:
        return number
    if wanted == "fraction" and declared == "percent":
        return number / 100
    return None


def _within(value: float, gold: float, tolerance: float) -> bool:
    if tolerance <= 0:
        return abs(value - gold) <= 1e-9 * max(1.0, abs(gold))
    return abs(value - gold) <= tolerance * abs(gold) + 1e-12


def _listify(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def normalize_entity(entity: Any, gold_unit: str | None = None, gold: str | None = None) -> str:
    """A comparable form of an entity: lower case, trimmed, integral floats without ".0",
    dates as ISO text cut to the gold's length (a month answered as its first day matches)."""
    if isinstance(entity, dt.datetime):
        entity = entity.date().isoformat()
    elif isinstance(entity, dt.date):
        entity = entity.isoformat()
    elif isinstance(entity, float) and entity.is_integer():
        entity = int(entity)
    text = str(entity).strip().strip("'\"").lower()
    if canonical_unit(gold_unit) == "date" and gold is not None:
        text = text.replace("t", " ").split(" ")[0]
        if len(gold) == 7 and re.fullmatch(r"\d{4}-\d{2}-01", text):
            text = text[:7]
    return text


# --- the checks ------------------------------------------------------------------------------

def check_entity(gold: Mapping[str, Any], answer: Mapping[str, Any]) -> tuple[bool, str]:
    """The answer's subject equals the gold entity (or the whole set of tied entities)."""
    unit = gold.get("unit")
    expected = {normalize_entity(e, unit, str(e)) for e in _listify(gold["entity"])}
    given = answer.get("primary_entity")
    if given is None or given == [] or given == "":
        return False, "no primary entity"
    reference = str(_listify(gold["entity"])[0])
    got = {normalize_entity(e, unit, reference) for e in _listify(given)}
    if got == expected:
        return True, ""
    if len(expected) > 1:
        return False, f"expected the tied set {sorted(expected)}, got {sorted(got)}"
    return False, f"subject {sorted(got)} is not {sorted(expected)}"


def check_value(gold: Mapping[str, Any], answer: Mapping[str, Any]) -> tuple[bool, str]:
    """The answer's own figure equals the gold within tolerance and unit.

    Lists are compared in order (the order the question asks, or `gold.sides`). A figure the
    question does not require (the count behind a "which" answer, the two sides of a
    comparison) is only checked when the answer gives one in a comparable unit and shape.
    """
    expected = gold.get("value")
    if expected is None:
        return True, ""
    required = bool(gold.get("value_required", True))
    given = answer.get("primary_value")
    if given is None or given == []:
        return (False, "no primary figure") if required else (True, "")
    golds = _listify(expected)
    gold_units = _listify(gold.get("value_unit") or gold.get("unit"))
    tolerances = _listify(gold.get("tolerance", 0))
    values = _listify(given)
    units = _listify(answer.get("unit"))
    if len(values) != len(golds):
        if required:
            return False, f"{len(values)} figure(s) given, {len(golds)} expected"
        return True, ""
    units = units * len(values) if len(units) == 1 else units
    gold_units = gold_units * len(golds) if len(gold_units) == 1 else gold_units
    tolerances = tolerances * len(golds) if len(tolerances) == 1 else tolerances
    if len(units) != len(values):
        return False, "units do not match the figures"
    converted = [convert(v, u, g) for v, u, g in zip(values, units, gold_units, strict=True)]
    if any(c is None for c in converted):
        if not required:
            return True, ""
        return False, f"unit {answer.get('unit')!r} is not comparable with {gold.get('unit')!r}"
    if all(_within(c, float(g), float(t))
           for c, g, t in zip(converted, golds, tolerances, strict=True)):
        return True, ""
    return False, f"figure {given!r} ({answer.get('unit')}) is not the gold {expected!r}"


def check_direction(gold: Mapping[str, Any], answer: Mapping[str, Any]) -> tuple[bool, str]:
    """The comparison's stated direction equals the gold's."""
    given = answer.get("direction")
    if given is None or not str(given).strip():
        return False, "comparison without a direction"
    text = str(given).strip().lower()
    winner = str(gold["direction"]).lower()
    names = {winner} | {str(a).lower() for a in gold.get("direction_aliases", [])}
    if text in names:
        return True, ""
    change = gold.get("change")
    if (change == "up" and text in _UP) or (change == "down" and text in _DOWN):
        return True, ""
    if change == "same" and text in _EQUAL:
        return True, ""
    return False, f"direction {given!r}, gold {winner!r} ({change} from {gold.get('sides')})"


def score_answer(question: Mapping[str, Any], answer: Mapping[str, Any]) -> StrictVerdict:
    """The strict verdict on one structured answer (see the module docstring for the rules)."""
    gold = question.get("gold") or {}
    refused = bool(answer.get("refused"))
    fallback = bool(answer.get("fallback"))
    base = {"question_id": str(question.get("id")), "kind": str(question.get("kind")),
            "refused": refused, "fallback": fallback,
            "flags_doubt": bool(answer.get("flags_doubt")),
            "hard_kind": question.get("hard_kind"), "split": question.get("split")}
    if fallback:
        return StrictVerdict(correct=False, reason="fallback / template answer", **base)
    if gold.get("unanswerable"):
        if refused:
            return StrictVerdict(correct=True, reason="", **base)
        return StrictVerdict(correct=False, reason="answered an unanswerable question", **base)
    if refused:
        return StrictVerdict(correct=False, reason="refused an answerable question", **base)
    checks: dict[str, bool] = {}
    reasons = []
    steps = [("value", check_value)]
    if gold.get("entity") is not None:
        steps.insert(0, ("entity", check_entity))
    if gold.get("direction") is not None:
        steps.append(("direction", check_direction))
    for name, check in steps:
        ok, why = check(gold, answer)
        checks[name] = ok
        if not ok:
            reasons.append(why)
    return StrictVerdict(correct=all(checks.values()), reason="; ".join(reasons), checks=checks,
                         **base)


# --- the old rule, for continuity ------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_CITATION = re.compile(r"\[(R|I|F|U|S):([^\]\s]{1,80})\]")


def _numbers(text: str) -> list[str]:
    return [m.group().replace(",", "").lstrip("+")
            for m in _NUMBER.finditer(_CITATION.sub(" ", text))]


def _number_in(text: str, gold: float) -> bool:
    """The old `metrics.number_matches`: any number in the text equals gold or gold × 100 to
    the precision it is written with."""
    for written in _numbers(text):
        decimals = len(written.split(".", 1)[1]) if "." in written else 0
        tolerance = 0.5 * 10 ** -decimals + 1e-9
        for target in (gold, gold * 100):
            if math.isfinite(target) and abs(abs(float(written)) - abs(target)) <= tolerance:
                return True
    return False


def _entity_in(text: str, entity: str) -> bool:
    """The old `metrics.entity_matches`: the entity appears anywhere as a whole token."""
    return re.search(rf"(?<![\w.-]){re.escape(entity.lower())}(?![\w-]|\.\w)",
                     text.lower()) is not None


def lenient_score(question: Mapping[str, Any], answer: Mapping[str, Any]) -> bool:
    """The old rule: every gold number appears anywhere in the prose (or ×100), and the gold
    entity (any one of a tied set) is mentioned anywhere; refusals are right only on
    unanswerable questions. Units, subject, direction and fallbacks are not looked at."""
    gold = question.get("gold") or {}
    refused = bool(answer.get("refused"))
    if gold.get("unanswerable"):
        return refused
    if refused:
        return False
    text = str(answer.get("text") or "")
    values = [] if gold.get("value") is None else _listify(gold["value"])
    if not all(_number_in(text, float(v)) for v in values):
        return False
    entities = [] if gold.get("entity") is None else _listify(gold["entity"])
    return not entities or any(_entity_in(text, str(e)) for e in entities)


# --- aggregation -----------------------------------------------------------------------------

def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _group(verdicts: Iterable[StrictVerdict], key: str) -> dict[str, dict[str, Any]]:
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for verdict in verdicts:
        name = getattr(verdict, key)
        if name is None:
            continue
        table[name][0] += 1
        table[name][1] += verdict.correct
    return {name: {"n": n, "correct": c, "accuracy": _rate(c, n)}
            for name, (n, c) in sorted(table.items())}


def summarize(verdicts: Sequence[StrictVerdict]) -> dict[str, Any]:
    """Overall, per-kind, per-hard-kind and per-split accuracy; dialogue accuracy; refusal rate
    on unanswerable questions (and false refusals on answerable ones); fallback rate; and the
    "confidently wrong" rate: wrong, not refused, and not flagging doubt (`flags_doubt`)."""
    n = len(verdicts)
    correct = sum(v.correct for v in verdicts)
    dialogue = [v for v in verdicts if v.kind == "dialogue"]
    unanswerable = [v for v in verdicts if v.kind == "unanswerable"]
    answerable = [v for v in verdicts if v.kind != "unanswerable"]
    wrong = [v for v in verdicts if not v.correct]
    confident = [v for v in wrong if not v.refused and not v.flags_doubt]
    return {
        "n": n,
        "correct": correct,
        "accuracy": _rate(correct, n),
        "per_kind": _group(verdicts, "kind"),
        "per_hard_kind": _group(verdicts, "hard_kind"),
        "per_split": _group(verdicts, "split"),
        "dialogue_accuracy": _rate(sum(v.correct for v in dialogue), len(dialogue)),
        "unanswerable_refusal_rate": _rate(sum(v.refused for v in unanswerable),
                                           len(unanswerable)),
        "false_refusal_rate": _rate(sum(v.refused for v in answerable), len(answerable)),
        "fallback_rate": _rate(sum(v.fallback for v in verdicts), n),
        "confidently_wrong": len(confident),
        "confidently_wrong_rate": _rate(len(confident), n),
        "confidently_wrong_share_of_wrong": _rate(len(confident), len(wrong)),
    }
