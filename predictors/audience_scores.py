"""What an audience is scored on, at any cut-off: the target's items, each user's history before
the cut, the next-item probability mass on the target, the goal models' probabilities, and
who actually converted in a later window.

Every function reads only events strictly before the cut-off it is given (``None`` = the end
of the log), so the same code scores users today and at a backtest's past cut-off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import torch

from core.errors import InputError
from predictors.evaluation.metrics import mask_history
from predictors.features import check_cutoff, source_span
from predictors.features.intent_features import user_features as intent_user_features
from predictors.next_item import NextItemModel
from predictors.scoring.intent_churn import score_churn, score_intent
from predictors.sequences import batch_width, left_pad
from store.readers import UserSequences

log = logging.getLogger(__name__)

TARGET_KINDS: tuple[str, ...] = ("item", "category", "brand", "goal")
GOALS: dict[str, str] = {
    "winback": "customers at risk of churning (P(no activity within the horizon))",
    "convert-carts": "open carts likely to be bought (P(buy a carted item within the horizon))",
}
"""Goal targets and what their probability means."""


@dataclass(frozen=True)
class AudienceTarget:
    """What the audience is for: an item, a category, a brand, or a goal (see :data:`GOALS`)."""

    kind: str
    value: str

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise InputError(f"unknown target kind {self.kind!r}; choose from "
                             f"{', '.join(TARGET_KINDS)}")
        if not str(self.value).strip():
            raise InputError(f"empty {self.kind} target")
        if self.kind == "goal" and self.value not in GOALS:
            raise InputError(f"unknown goal {self.value!r}; choose from {', '.join(GOALS)}")

    @property
    def label(self) -> str:
        """"category electronics.smartphone", "goal winback", …"""
        return f"{self.kind} {self.value}"


@dataclass
class ResolvedTarget:
    """A target with the source's items it stands for (none for goals)."""

    target: AudienceTarget
    items: list[str] = field(default_factory=list)

    @property
    def is_goal(self) -> bool:
        """Whether this is a goal target (scored by the intent / churn models)."""
        return self.target.kind == "goal"


def _suggest(con: duckdb.DuckDBPyConnection, source: str, column: str) -> str:
    rows = con.execute(
        f"SELECT {column}, count(*) n FROM events WHERE source = $s AND {column} IS NOT NULL "
        f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT 5", {"s": source}).fetchall()
    if not rows:
        return f" (the source has no {column}s)"
    return f" (e.g. {', '.join(str(r[0]) for r in rows)})"


def resolve_target(con: duckdb.DuckDBPyConnection, source: str,
                   target: AudienceTarget) -> ResolvedTarget:
    """The target's item ids in `source`; InputError naming an unknown item, category or brand.

    A category matches itself and its sub-categories (``electronics`` covers
    ``electronics.smartphone``); category and brand names are matched without regard to case,
    in the items table and on the events themselves.
    """
    if target.kind == "goal":
        return ResolvedTarget(target)
    value = str(target.value).strip()
    if target.kind == "item":
        rows = con.execute(
            "SELECT DISTINCT item_id FROM events WHERE source = $s AND item_id = $v UNION "
            "SELECT item_id FROM items WHERE source = $s AND item_id = $v",
            {"s": source, "v": value}).fetchall()
        if not rows:
            raise InputError(f"unknown item {value!r} in source {source!r}")
        return ResolvedTarget(target, [value])
    column = target.kind  # category | brand
    match = (f"(lower({column}) = lower($v) OR lower({column}) LIKE lower($v) || '.%')"
             if column == "category" else f"lower({column}) = lower($v)")
    rows = con.execute(
        f"SELECT DISTINCT item_id FROM events WHERE source = $s AND {match} UNION "
        f"SELECT item_id FROM items WHERE source = $s AND {match} ORDER BY 1",
        {"s": source, "v": value}).fetchall()
    if not rows:
        raise InputError(f"unknown {column} {value!r} in source {source!r}"
                         f"{_suggest(con, source, column)}")
    return ResolvedTarget(target, [str(r[0]) for r in rows])


@dataclass
class Histories:
    """Each user's events before a cut-off: sequences, event counts and last activity."""

    sequences: UserSequences
    n_events: np.ndarray
    last_us: np.ndarray  # epoch µs of the last event (NaN for untimed sources)

    @property
    def user_ids(self) -> list[str]:
        """The users, sorted."""
        return self.sequences.user_ids


_HISTORIES_SQL = """
SELECT user_id,
       list(item_id ORDER BY ts NULLS FIRST, ordinal) AS items,
       list(event_type ORDER BY ts NULLS FIRST, ordinal) AS kinds,
       count(*) AS n_events,
       max(epoch_us(ts)) AS last_us
FROM events
WHERE source = $source AND ($cut IS NULL OR epoch_us(ts) < $cut)
GROUP BY user_id ORDER BY user_id
"""


def histories(con: duckdb.DuckDBPyConnection, source: str, cut_us: int | None) -> Histories:
    """Every user's history of `source` before `cut_us` (all of it when None)."""
    frame = con.execute(_HISTORIES_SQL, {"source": source, "cut": cut_us}).df()
    sequences = UserSequences(source=source, user_ids=frame["user_id"].astype(str).tolist(),
                              items=[list(v) for v in frame["items"]],
                              event_types=[list(v) for v in frame["kinds"]])
    return Histories(sequences, frame["n_events"].to_numpy(dtype=np.int64),
                     frame["last_us"].to_numpy(dtype=np.float64))


@torch.inference_mode()
def target_mass(model: NextItemModel, sequences: UserSequences, items: list[str],
                batch_size: int = 512) -> np.ndarray:
    """Per user: the next-item softmax probability summed over `items` (the model's
    P(the next interaction is one of the target's items)); NaN where the model knows none of
    the user's history, 0 where it knows none of the target's items. Where the checkpoint
    leaves a user's own items out (its repeat rule, `mask_seen`), so does the softmax: a
    reviewer of the target item is not its audience."""
    inputs, types = model.encode(sequences)
    mass = np.full(len(inputs), np.nan)
    columns = [model.items.id_to_index[i] for i in items if i in model.items.id_to_index]
    model.model.eval()
    device = next(model.model.parameters()).device
    index = torch.as_tensor(columns, dtype=torch.long, device=device)
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start:start + batch_size]
        kinds = types[start:start + batch_size] if types else None
        width = batch_width(chunk, model.max_len)
        item_ids = left_pad(chunk, model.max_len, pad_to=width).to(device)
        type_ids = left_pad(kinds, model.max_len, pad_to=width).to(device) if kinds else None
        scores = model.model.score_all(item_ids, type_ids).float()
        if model.mask_seen:
            mask_history(scores, chunk)
        probs = torch.softmax(scores, dim=1)
        part = probs[:, index].sum(dim=1).cpu().numpy() if columns else np.zeros(len(chunk))
        known = np.array([len(h) > 0 for h in chunk])
        mass[start:start + len(chunk)] = np.where(known, part, np.nan)
    return mass


def converted(con: duckdb.DuckDBPyConnection, source: str, items: list[str], start_us: int,
              end_us: int, purchase_only: bool = False) -> set[str]:
    """Users with an event on one of `items` in ``[start_us, end_us)`` (purchases only when
    asked)."""
    kinds = "AND event_type = 'purchase'" if purchase_only else ""
    rows = con.execute(
        f"SELECT DISTINCT user_id FROM events WHERE source = $s AND list_contains($items, item_id)"
        f" AND epoch_us(ts) >= $a AND epoch_us(ts) < $b {kinds}",
        {"s": source, "items": items, "a": start_us, "b": end_us}).fetchall()
    return {str(r[0]) for r in rows}


def active_in(con: duckdb.DuckDBPyConnection, source: str, start_us: int, end_us: int) -> set[str]:
    """Users with any event in ``[start_us, end_us)``."""
    return set(event_counts(con, source, start_us, end_us).index)


def event_counts(con: duckdb.DuckDBPyConnection, source: str, start_us: int,
                 end_us: int) -> pd.Series:
    """Per user: the number of events in ``[start_us, end_us)``."""
    rows = con.execute(
        "SELECT user_id, count(*) FROM events WHERE source = $s AND epoch_us(ts) >= $a "
        "AND epoch_us(ts) < $b GROUP BY 1", {"s": source, "a": start_us, "b": end_us}).fetchall()
    return pd.Series({str(u): int(n) for u, n in rows}, dtype=float)


def last_touch(con: duckdb.DuckDBPyConnection, source: str, items: list[str], cut_us: int | None,
               event_types: tuple[str, ...] | None = None) -> dict[str, int]:
    """Per user: the time (epoch µs) of their latest event on `items` before `cut_us`."""
    kinds = "AND list_contains($kinds, event_type)" if event_types else ""
    params: dict[str, Any] = {"s": source, "items": items, "cut": cut_us}
    if event_types:
        params["kinds"] = list(event_types)
    rows = con.execute(
        f"SELECT user_id, max(epoch_us(ts)) FROM events WHERE source = $s "
        f"AND list_contains($items, item_id) AND ($cut IS NULL OR epoch_us(ts) < $cut) {kinds} "
        f"GROUP BY 1", params).fetchall()
    return {str(u): int(t) if t is not None else 0 for u, t in rows}


_OPEN_CARTS_SQL = """
WITH carts AS (
    SELECT user_id, item_id, max(epoch_us(ts)) AS carted
    FROM events WHERE source = $s AND event_type = 'cart' AND ($cut IS NULL OR epoch_us(ts) < $cut)
    GROUP BY 1, 2
), bought AS (
    SELECT user_id, item_id, max(epoch_us(ts)) AS bought
    FROM events WHERE source = $s AND event_type = 'purchase'
      AND ($cut IS NULL OR epoch_us(ts) < $cut)
    GROUP BY 1, 2
)
SELECT c.user_id, list(c.item_id ORDER BY c.item_id) AS items, max(c.carted) AS last_cart
FROM carts c LEFT JOIN bought b USING (user_id, item_id)
WHERE b.bought IS NULL OR b.bought < c.carted
GROUP BY 1 ORDER BY 1
"""


def open_carts(con: duckdb.DuckDBPyConnection, source: str,
               cut_us: int | None) -> dict[str, tuple[list[str], int]]:
    """Per user: the items in their cart not bought since (before `cut_us`), and when they
    last carted one."""
    rows = con.execute(_OPEN_CARTS_SQL, {"s": source, "cut": cut_us}).fetchall()
    return {str(u): ([str(i) for i in items], int(t)) for u, items, t in rows}


def cart_buyers(con: duckdb.DuckDBPyConnection, source: str,
                carts: dict[str, tuple[list[str], int]], start_us: int, end_us: int) -> set[str]:
    """Users who bought one of their open-cart items in ``[start_us, end_us)``."""
    rows = con.execute(
        "SELECT DISTINCT user_id, item_id FROM events WHERE source = $s AND event_type = "
        "'purchase' AND epoch_us(ts) >= $a AND epoch_us(ts) < $b",
        {"s": source, "a": start_us, "b": end_us}).fetchall()
    return {str(u) for u, i in rows if str(u) in carts and str(i) in carts[str(u)][0]}


def cart_probability(con: duckdb.DuckDBPyConnection, model: Any, source: str,
                     cut_us: int | None, carts: dict[str, tuple[list[str], int]]) -> pd.Series:
    """Per user with an open cart: P(buys at least one carted item within the intent model's
    horizon) = 1 - prod(1 - p_i) over the carted items' calibrated item-level probabilities
    (the intent model scores every viewed / carted / favourited item not yet bought)."""
    scores = score_intent(con, model, as_of=cut_us, source=source, top_k=10_000)
    out: dict[str, float] = {}
    for user, tops in zip(scores["user_id"].astype(str), scores["top_items"], strict=True):
        if user not in carts:
            continue
        carted = set(carts[user][0])
        ps = [float(d["p"]) for d in tops if str(d["item_id"]) in carted]
        if ps:
            out[user] = float(1.0 - np.prod([1.0 - p for p in ps]))
    return pd.Series(out, dtype=float)


def churn_probability(con: duckdb.DuckDBPyConnection, model: Any, source: str,
                      cut_us: int | None) -> pd.Series:
    """Per eligible user: the churn model's calibrated P(no activity within its horizon)."""
    scores = score_churn(con, model, as_of=cut_us, source=source)
    return pd.Series(scores["churn_risk"].to_numpy(dtype=float),
                     index=scores["user_id"].astype(str).to_numpy())


def intent_any(con: duckdb.DuckDBPyConnection, model: Any, source: str,
               cut_us: int | None) -> pd.Series:
    """Per user: the intent model's calibrated P(any purchase within its horizon) (user-level
    features only: the item-level candidates are not needed here)."""
    span = source_span(con, source)
    cut = cut_us if cut_us is not None else (span.max_us or 0) + 1
    check_cutoff(span, cut, "intent scoring")
    users = intent_user_features(con, source, cut, model.feature_config)
    return pd.Series(model.predict_user_proba(users) if len(users) else np.zeros(0),
                     index=users["user_id"].astype(str).to_numpy())
