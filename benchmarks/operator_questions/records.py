"""The gold records of the operator questions, one small constructor per kind of answer.

`count` (exact), `number` (relative tolerance), `which` (top-n entities, ties included), `when`
(a date or month), `compare` (two sides and the direction), `pair` (two metrics) and
`unanswerable` (with the reason). Numbers are made JSON-stable by `_clean`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

Record = dict[str, Any]
"""A gold record as stored in ``questions.jsonl`` (see the README's `gold` table)."""


def _clean(value: float) -> float | int:
    """A JSON-stable number: ints stay ints, floats are rounded to 10 significant digits."""
    if float(value).is_integer():
        return int(value)
    return float(f"{float(value):.10g}")


def count(value: int) -> Record:
    """An exact count."""
    return {"value": int(value), "unit": "count", "tolerance": 0}


def number(value: float, unit: str, tolerance: float = 0.005) -> Record:
    """A number compared with a relative tolerance (unit: fraction, currency, rating, count)."""
    return {"value": _clean(value), "unit": unit, "tolerance": tolerance}


def which(series: pd.Series, n: int = 1, lowest: bool = False, unit: str = "entity",
          value_unit: str = "count") -> Record:
    """The top-`n` keys of a grouped series, every key tied with the n-th included.

    `entity` is a string for a single answer and a list when n > 1 or there is a tie; `tied`
    lists the keys tied at the boundary; `value` is the top figure for n = 1 (not required)
    and None for a top-n list.
    """
    ordered = series.sort_values(ascending=lowest)
    boundary = ordered.iloc[n - 1]
    chosen = ordered[(ordered <= boundary) if lowest else (ordered >= boundary)]
    keys = sorted(str(k) for k in chosen.index)
    tied = sorted(str(k) for k, v in chosen.items() if v == boundary)
    record: Record = {
        "value": _clean(boundary) if n == 1 else None,
        "value_unit": value_unit, "value_required": False,
        "unit": unit, "tolerance": 0 if value_unit == "count" else 0.005,
        "entity": keys[0] if len(keys) == 1 else keys,
    }
    if len(tied) > 1:
        record["tied"] = tied
    return record


def when(label: str, support: float) -> Record:
    """A date (YYYY-MM-DD) or month (YYYY-MM) answer; `value` is its supporting count."""
    return {"value": _clean(support), "value_unit": "count", "value_required": False,
            "unit": "date", "tolerance": 0, "entity": label}


def compare(sides: list[str], values: list[float], unit: str, aliases: dict[str, list[str]],
            tolerance: float = 0.0) -> Record:
    """Two sides compared: `direction` = the side with the larger value, `change` = "up" when
    the second side is larger than the first, "down" when smaller; values in `sides` order."""
    first, second = values
    if first == second:
        direction, change = "equal", "same"
    else:
        direction = sides[0] if first > second else sides[1]
        change = "up" if second > first else "down"
    return {"value": [_clean(v) for v in values], "unit": unit, "tolerance": tolerance,
            "value_required": False, "sides": sides, "direction": direction,
            "direction_aliases": aliases.get(direction, []), "change": change}


def pair(values: list[float], units: list[str], tolerance: float = 0.005) -> Record:
    """Two metrics in one question, in the order the question asks them."""
    return {"value": [_clean(v) for v in values], "unit": units,
            "tolerance": [0 if u == "count" and float(v).is_integer() else tolerance
                          for v, u in zip(values, units, strict=True)]}


def unanswerable(reason: str) -> Record:
    """The data cannot answer: `reason` says what is missing."""
    return {"unanswerable": True, "reason": reason}
