"""Raw shared files read with pandas, and the registry of gold functions.

Nothing here touches the workspace, DuckDB or the project's loaders: each frame is the raw file
read with pandas, with only the columns renamed where noted. Timestamps are read as UTC.

Gold functions are registered by name (the canonical id) with `@gold(filters)`; each returns a
gold record built with one of the small constructors below (`count`, `number`, `which`,
`compare`, `pair`, `unanswerable`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]

TAOBAO = "taobao_userbehavior_prefix/UserBehavior_prefix.csv.gz"
REES46 = "rees46_multicategory_2019oct_head/2019-Oct_head.csv.gz"
MUSICAL = "amazon_musical_instruments_2014_5core/reviews_Musical_Instruments_5.json.gz"

Record = dict[str, Any]
GoldFn = Callable[["Raw"], Record]

REGISTRY: dict[str, tuple[GoldFn, dict[str, Any]]] = {}
"""canonical_id → (gold function, filters the question implies)."""


def gold(filters: dict[str, Any] | None = None) -> Callable[[GoldFn], GoldFn]:
    """Register a gold function under its own name (= the canonical id)."""

    def register(fn: GoldFn) -> GoldFn:
        if fn.__name__ in REGISTRY:
            raise ValueError(f"duplicate canonical id {fn.__name__}")
        REGISTRY[fn.__name__] = (fn, dict(filters or {}))
        return fn

    return register


def find_shared(explicit: Path | None = None) -> Path:
    """The shared data folder: explicit, $INSIGHT_SHARED_DATA, ../shared/data or ./shared/data."""
    env = os.environ.get("INSIGHT_SHARED_DATA")
    candidates = [explicit] if explicit else []
    candidates += [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", REPO_ROOT / "shared" / "data"]
    for cand in candidates:
        if (cand / TAOBAO).exists():
            return cand
    raise FileNotFoundError(f"shared data not found in {[str(c) for c in candidates]}")


@dataclass
class Raw:
    """Lazily read raw files of the three sources the questions are about."""

    shared: Path

    @cached_property
    def taobao(self) -> pd.DataFrame:
        """Taobao UserBehavior: user_id, item_id, category_id, behavior_type (pv/cart/fav/buy),
        timestamp (Unix s); `ts` = the timestamp as UTC, `day` = its UTC date."""
        frame = pd.read_csv(self.shared / TAOBAO)
        frame["ts"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
        frame["day"] = frame["ts"].dt.strftime("%Y-%m-%d")
        return frame

    @cached_property
    def rees46(self) -> pd.DataFrame:
        """REES46 events as in the CSV (exact duplicate rows kept); `ts` = event_time (UTC)."""
        frame = pd.read_csv(self.shared / REES46, dtype={"category_code": "string",
                                                          "brand": "string",
                                                          "user_session": "string"})
        frame["ts"] = pd.to_datetime(frame["event_time"], format="%Y-%m-%d %H:%M:%S UTC",
                                     utc=True)
        return frame

    @cached_property
    def musical(self) -> pd.DataFrame:
        """Musical Instruments 2014 reviews (JSON lines); `ts` = unixReviewTime as UTC."""
        frame = pd.read_json(self.shared / MUSICAL, lines=True, convert_dates=False)
        frame["ts"] = pd.to_datetime(frame["unixReviewTime"], unit="s", utc=True)
        return frame


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
