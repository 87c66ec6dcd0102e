"""Raw shared files read with pandas, and the registry of gold functions.

Nothing here touches the workspace, DuckDB or the project's loaders: each frame is the raw file
read with pandas, with only the columns renamed where noted. Timestamps are read as UTC.

Gold functions are registered by name (the canonical id) with `@gold(filters)`, or with
`register(canonical, fn, filters)` (`register_distinct` for "how many distinct …" questions);
each returns a gold record built with one of the small constructors of `records.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.operator_questions.records import Record, count, unanswerable

REPO_ROOT = Path(__file__).resolve().parents[2]
TB = {"source": "taobao"}
R46 = {"source": "rees46"}
MI = {"source": "musical_instruments"}
"""The filters every gold of one source implies (extended per question: `{**TB, ...}`)."""

TAOBAO = "taobao_userbehavior_prefix/UserBehavior_prefix.csv.gz"
REES46 = "rees46_multicategory_2019oct_head/2019-Oct_head.csv.gz"
MUSICAL = "amazon_musical_instruments_2014_5core/reviews_Musical_Instruments_5.json.gz"

GoldFn = Callable[["Raw"], Record]

REGISTRY: dict[str, tuple[GoldFn, dict[str, Any]]] = {}
"""canonical_id → (gold function, filters the question implies)."""


def register(canonical: str, fn: GoldFn, filters: dict[str, Any] | None = None) -> GoldFn:
    """Register `fn` as the gold function of `canonical` with the filters its question implies."""
    if canonical in REGISTRY:
        raise ValueError(f"duplicate canonical id {canonical}")
    REGISTRY[canonical] = (fn, dict(filters or {}))
    return fn


def gold(filters: dict[str, Any] | None = None) -> Callable[[GoldFn], GoldFn]:
    """Register a gold function under its own name (= the canonical id)."""

    def decorate(fn: GoldFn) -> GoldFn:
        return register(fn.__name__, fn, filters)

    return decorate


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
        # No column has a date-like name, so pandas parses none itself (the deprecated
        # convert_dates=False read the same frame).
        frame = pd.read_json(self.shared / MUSICAL, lines=True)
        frame["ts"] = pd.to_datetime(frame["unixReviewTime"], unit="s", utc=True)
        return frame

    def musical_in(self, year: int) -> pd.DataFrame:
        """The Musical Instruments reviews dated in `year` (UTC)."""
        return self.musical[self.musical["ts"].dt.year == year]


def _distinct(frame: str, column: str, raw: Raw) -> Record:
    return count(getattr(raw, frame)[column].nunique())


def register_distinct(frame: str, columns: dict[str, str], filters: dict[str, Any]) -> None:
    """Register "how many distinct …" questions about one raw frame (``Raw.<frame>``): canonical
    id → the column whose distinct non-empty values are counted."""
    for canonical, column in columns.items():
        register(canonical, partial(_distinct, frame, column), filters)


def _unanswerable(reason: str, _: Raw) -> Record:
    return unanswerable(reason)


def register_unanswerable(missing: dict[str, str]) -> None:
    """Register questions the data cannot answer: canonical id → why (what no source records)."""
    for canonical, reason in missing.items():
        register(canonical, partial(_unanswerable, reason))
