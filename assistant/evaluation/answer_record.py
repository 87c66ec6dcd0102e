"""The strict scorer's record of one `ask` answer, read from the answer's own rows and plan.

`answer_record` takes the metric cell of a single-value answer (the share of a share answer,
the date of a date answer); for grouped answers the top row's group value (every row tied with
it, or the top N when the question asks for N) with its metric as the supporting figure; the
metrics in plan order for two-metric answers; both periods and the direction of the change for
period comparisons. The unit is the metric's catalog unit. Nothing is read from the gold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from assistant.analytics.catalog import METRICS
from assistant.analytics.compiler import TIME_DIMENSIONS
from assistant.tools.ask import AskResult

CANNED = "The result table has the answer; see the rows."
"""`ask`'s text when a template answer fails its grounding check."""
DOUBT = re.compile(
    r"\b(I read|read (?:this|it|that|the question) as|reading|assum(?:e|ed|ing)|interpret\w*|"
    r"taken (?:as|to mean)|counted as|treated as|if you mean\w*|not sure|unsure|unclear|"
    r"ambiguous|may not|might not|approximately|roughly)\b", re.IGNORECASE)
"""Words by which an answer states its reading of the question or a doubt about it."""
_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10}
_N = r"(\d{1,2}|" + "|".join(_WORDS) + r")"
TOP_N = re.compile(rf"\btop[\s-]*{_N}\b|\b(?:which|what)\s+{_N}\b|\b{_N}\s+(?:most|best|"
                   r"biggest|largest|highest|top)\b", re.IGNORECASE)
"""A question asking for N entities ("top 3", "which 3 …", "5 most …")."""

# --- the answer record -----------------------------------------------------------------------

def asked_text(question: Mapping[str, Any]) -> str:
    """The text put to the assistant: the question as written (a dialogue's second turn)."""
    turns = question.get("turns")
    return str(turns[-1]) if turns else str(question["text"])


def wanted_n(text: str) -> int:
    """How many entities the question asks for (1 unless it says "top 3", "which 3", …)."""
    match = TOP_N.search(text)
    if not match:
        return 1
    word = next(g for g in match.groups() if g)
    return _WORDS.get(word.lower()) or int(word)


def _unit(metric: str) -> str | None:
    return METRICS[metric].unit if metric in METRICS else None


def _ranked(result: AskResult, key: str) -> list[dict[str, Any]]:
    """The rows in the answer's order; time series (returned in time order) by `key`."""
    plan = result.plan or {}
    rows = [r for r in result.rows if r.get(key) is not None]
    dim = plan["group_by"][0]
    if dim in TIME_DIMENSIONS and plan.get("order_by") is None:
        rows = sorted(rows, key=lambda r: r[key], reverse=bool(plan.get("descending", True)))
    return rows


def _leaders(rows: list[dict[str, Any]], key: str, n: int) -> list[dict[str, Any]]:
    """The first `n` rows and every row tied with the n-th on `key`."""
    if not rows:
        return []
    n = max(1, min(n, len(rows)))
    cut = rows[n - 1][key]
    return rows[:n] + [r for r in rows[n:] if r[key] == cut]


def _direction(before: Any, after: Any) -> str | None:
    if before is None or after is None:
        return None
    return "up" if after > before else "down" if after < before else "same"


def is_fallback(result: AskResult) -> bool:
    """The answer came from a fallback path: the LLM draft was invalid and the code hints made
    the plan (`plan_source` "hints", a step marked `fallback`), or a canned text replaced an
    answer that failed its grounding check. The rules mode's own plans ("offline") are not."""
    return (result.plan_source == "hints" or result.answer.strip() == CANNED
            or result.grounding.get("ok") is False
            or any(step.status == "fallback" for step in result.run.steps))


def answer_record(result: AskResult, question: Mapping[str, Any]) -> dict[str, Any]:
    """The strict scorer's record of one answer, from the answer's own rows and plan.

    `question` supplies only the wording (how many entities it asks for) and, for comparisons,
    the order in which the question names its sides (`gold.sides`) so values can be listed in
    that order; nothing is read from the gold values, units or entities.
    """
    text = result.answer
    record: dict[str, Any] = {
        "primary_value": None, "unit": None, "primary_entity": None, "direction": None,
        "refused": not result.answerable, "fallback": is_fallback(result),
        "flags_doubt": bool(DOUBT.search(text)) and result.answerable, "text": text}
    plan = result.plan or {}
    metrics: list[str] = list(plan.get("metrics") or [])
    if not result.answerable or not metrics or not result.rows:
        return record
    metric = metrics[0]
    group_by = plan.get("group_by") or []
    if plan.get("compare_previous_period") and not group_by:
        row = result.rows[0]
        before, after = row.get(f"{metric}_previous"), row.get(metric)
        record.update(primary_value=[before, after], unit=_unit(metric),
                      direction=_direction(before, after))
        return record
    if not group_by:
        row = result.rows[0]
        if plan.get("share_condition") is not None:
            record.update(primary_value=row.get("share"), unit="rate")
        elif len(metrics) == 1 and _unit(metric) == "date":
            record.update(primary_entity=row.get(metric), unit="date")
        elif len(metrics) == 1:
            record.update(primary_value=row.get(metric), unit=_unit(metric))
        else:
            record.update(primary_value=[row.get(m) for m in metrics],
                          unit=[_unit(m) for m in metrics])
        return record
    dim = group_by[0]
    key = "change" if plan.get("order_by") == "change" else metric
    rows = _ranked(result, key)
    if not rows:
        return record
    top = _leaders(rows, key, wanted_n(asked_text(question)))
    keys = [str(r[dim])[:4] if dim == "year" else r[dim] for r in top]  # as the answer says
    descending = bool(plan.get("descending", True))
    record.update(primary_entity=keys[0] if len(keys) == 1 else keys,
                  primary_value=rows[0][key], unit=_unit(metric),
                  direction=str(rows[0][dim]) if descending else None)  # the larger side
    sides = [str(s).lower() for s in (question.get("gold") or {}).get("sides") or []]
    by_key = {str(r[dim]).lower(): r for r in rows}
    if len(sides) == 2 and all(s in by_key for s in sides):  # both sides are rows
        first, second = (by_key[s][key] for s in sides)
        record["primary_value"] = [first, second]
        record["direction"] = (sides[0] if first > second else sides[1] if second > first
                               else "same")
    return record
