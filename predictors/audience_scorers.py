"""Per-target scorers of the audience builder: how users are scored at a cut-off, what their
outcome is in a later window, which rival rankings the backtest compares against, and how the
scores are calibrated.

* :class:`ItemScorer` — item, category or brand: the next-item softmax mass on the target's
  items (the current checkpoint today; in the backtest a model trained before the cuts), with
  the intent and churn probabilities where the source has those models;
* :class:`GoalScorer` — ``winback`` (churn model) or ``convert-carts`` (intent model's item
  probabilities of the carted items), both calibrated by their own trainers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from core.errors import InputError
from predictors import audience_scores as S
from predictors.audience_backtest import (
    Baseline,
    Calibration,
    fit_calibration,
    labels_for,
    prefix_model,
)
from predictors.features import SourceSpan, iso, to_duration_us
from predictors.models.churn import ChurnModel
from predictors.models.intent import IntentModel
from predictors.next_item import load_next_item
from predictors.training.cutoffs import plan_cutoffs
from store.checkpoints import CHURN, INTENT, load_checkpoint
from store.readers import source_fingerprint
from store.workspace import Workspace

if TYPE_CHECKING:
    from predictors.audience import AudienceOptions

log = logging.getLogger(__name__)

US_PER_DAY = 86_400_000_000


def _load(ws: Workspace, source: str, kind: str, cls: Any) -> tuple[Any, str] | None:
    try:
        path, meta = load_checkpoint(ws, source, kind)
    except InputError:
        return None
    return cls.load(path / "model"), str(meta["version"])


class Scorer:
    """Scores users at a cut-off for one target; subclasses fill in the target's specifics."""

    outcome = ""

    def __init__(self, ws: Workspace, con: duckdb.DuckDBPyConnection, source: str,
                 resolved: S.ResolvedTarget, options: AudienceOptions, span: SourceSpan) -> None:
        self.ws, self.con, self.source, self.resolved = ws, con, source, resolved
        self.options, self.span = options, span
        self.intent = _load(ws, source, INTENT, IntentModel)
        self.churn = _load(ws, source, CHURN, ChurnModel)
        self.versions: list[str] = []
        self.horizon_us = 0

    def behavior(self, frame: pd.DataFrame, cut: int | None) -> pd.DataFrame:
        """`frame` with `intent` / `churn` columns where those models score at `cut`."""
        for name, loaded, score in (("intent", self.intent, S.intent_any),
                                    ("churn", self.churn, S.churn_probability)):
            if loaded is None or name in frame:
                continue
            try:
                frame[name] = score(self.con, loaded[0], self.source, cut).reindex(frame.index)
            except InputError as exc:
                log.info("audience: no %s scores at %s: %s", name, cut, exc)
        return frame

    def history_columns(self, cut: int | None) -> pd.DataFrame:
        """n_events and last_us per user before `cut`."""
        h = S.histories(self.con, self.source, cut)
        return pd.DataFrame({"n_events": h.n_events, "last_us": h.last_us}, index=h.user_ids)

    def frame(self, cut: int | None, backtest: bool) -> pd.DataFrame:
        """Per user at `cut`: score, probability-ready columns, n_events, last_us, touch."""
        raise NotImplementedError

    def outcome_users(self, frame: pd.DataFrame, start: int, end: int) -> set[str]:
        """Users of `frame` whose outcome happened in ``[start, end)``."""
        raise NotImplementedError

    def baselines(self, frame: pd.DataFrame) -> list[Baseline]:
        """Rival rankings of the users of `frame`."""
        raise NotImplementedError

    def test_cut(self) -> tuple[int | None, int]:
        """(calibration cut or None, test cut) of the backtest."""
        raise NotImplementedError

    def calibrate(self, frame: pd.DataFrame, cut: int) -> Calibration:
        """The probability map fitted at `cut` (goals: their model's own calibration)."""
        raise NotImplementedError


def _recent_key(touch: pd.Series, n_events: pd.Series) -> np.ndarray:
    """Recent viewers first (latest touch), the rest by activity."""
    n = len(touch) + 1
    t = touch.fillna(-1).rank(method="dense").to_numpy()
    a = n_events.rank(method="dense").to_numpy()
    return t * n + a


class ItemScorer(Scorer):
    """Item, category or brand: next-item mass on the target's items, with the intent / churn
    probabilities, the user's recent activity and recent touches of the target as covariates
    (``options.signals``)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.model = load_next_item(self.ws, self.source)
        self.versions = [self.model.version]
        hint = self.intent[0].horizon if self.intent else None
        self.horizon_us = to_duration_us(self.options.horizon or hint or _span_horizon(self.span))
        what = "buys" if self.options.purchase_only else "interacts with"
        self.outcome = f"P(the user {what} the {self.resolved.target.label} within the horizon)"
        self.features: list[str] = ["mass"]
        self.calibration: Calibration | None = None

    def frame(self, cut: int | None, backtest: bool) -> pd.DataFrame:
        """Next-item mass at `cut` (the backtest uses the model trained before its cuts)."""
        model = self._prefix() if backtest else self.model
        h = S.histories(self.con, self.source, cut)
        mass = S.target_mass(model, h.sequences, self.resolved.items)
        frame = pd.DataFrame({"mass": mass, "n_events": h.n_events, "last_us": h.last_us},
                             index=pd.Index(h.user_ids, name="user_id"))
        frame = frame[frame["mass"].notna()].copy()
        touch = S.last_touch(self.con, self.source, self.resolved.items, cut)
        frame["touch"] = pd.Series(touch, dtype=float).reindex(frame.index)
        frame["score"] = frame["mass"]
        ref = cut if cut is not None else (self.span.max_us or 0) + 1
        frame["activity"] = S.event_counts(self.con, self.source, ref - self.horizon_us,
                                           ref).reindex(frame.index).fillna(0)
        frame["recent_touch"] = (frame["touch"] >= ref - self.horizon_us).astype(float)
        return self.behavior(frame, cut)

    def _prefix(self) -> Any:
        cal_cut, _ = self.test_cut()
        assert cal_cut is not None
        h = S.histories(self.con, self.source, cal_cut)
        key = (str(self.ws.root.resolve()), self.source,
               source_fingerprint(self.ws, self.source), cal_cut)
        return prefix_model(self.model, h.sequences, key, self.options.backtest_epochs,
                            self.options.seed)

    def outcome_users(self, frame: pd.DataFrame, start: int, end: int) -> set[str]:
        """Users who interacted with (bought) a target item in the window."""
        return S.converted(self.con, self.source, self.resolved.items, start, end,
                           self.options.purchase_only)

    def baselines(self, frame: pd.DataFrame) -> list[Baseline]:
        """Recent viewers of the target, and the most active users (popularity)."""
        return [
            Baseline("recent_viewers", "users who touched the target most recently first, the "
                     "rest by activity", _recent_key(frame["touch"], frame["n_events"])),
            Baseline("popularity", "the most active users first (a most-popular recommender "
                     "gives every user the same target score)", frame["n_events"].to_numpy()),
        ]

    def test_cut(self) -> tuple[int | None, int]:
        """Calibration and test cut-offs of the temporal harness (one horizon apart)."""
        plan = plan_cutoffs(self.span, self.horizon_us, None, 1, 1, purpose="audience backtest")
        return plan.calibration[0], plan.test

    def calibrate(self, frame: pd.DataFrame, cut: int) -> Calibration:
        """Platt / isotonic (with intent and churn covariates when present) at `cut`."""
        y = labels_for(frame, self.outcome_users(frame, cut, cut + self.horizon_us))
        features = ["mass"] + [c for c in self.options.signals
                               if c in frame and frame[c].notna().any()]
        self.calibration = fit_calibration(frame, y, iso(cut), features)
        return self.calibration


class GoalScorer(Scorer):
    """winback (churn model) or convert-carts (intent model)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        goal = self.resolved.target.value
        kind = CHURN if goal == "winback" else INTENT
        loaded = self.churn if goal == "winback" else self.intent
        if loaded is None:
            raise InputError(f"goal {goal!r} needs a {kind} model for source {self.source!r}; "
                             f"run `insight train --source {self.source} --only {kind}`")
        self.goal, self.kind, self.model = goal, kind, loaded[0]
        self.versions = [loaded[1]]
        self.horizon_us = to_duration_us(self.model.horizon)
        self.outcome = S.GOALS[goal]
        self.carts: dict[str, tuple[list[str], int]] = {}

    def frame(self, cut: int | None, backtest: bool) -> pd.DataFrame:
        """The goal model's calibrated probability per candidate user at `cut`."""
        base = self.history_columns(cut)
        if self.goal == "winback":
            p = S.churn_probability(self.con, self.model, self.source, cut)
            touch = pd.Series(dtype=float)
        else:
            self.carts = S.open_carts(self.con, self.source, cut)
            p = S.cart_probability(self.con, self.model, self.source, cut, self.carts)
            touch = pd.Series({u: t for u, (_, t) in self.carts.items()}, dtype=float)
        frame = base.reindex(p.index).assign(score=p, probability=p, touch=touch.reindex(p.index))
        frame.index.name = "user_id"
        if self.goal == "winback":
            frame["churn"] = p
        return self.behavior(frame.sort_index(), cut)

    def outcome_users(self, frame: pd.DataFrame, start: int, end: int) -> set[str]:
        """winback: users with no activity in the window; carts: bought a carted item."""
        if self.goal == "winback":
            return set(frame.index) - S.active_in(self.con, self.source, start, end)
        return S.cart_buyers(self.con, self.source, self.carts, start, end)

    def baselines(self, frame: pd.DataFrame) -> list[Baseline]:
        """Recency and activity heuristics of the goal."""
        if self.goal == "winback":
            return [Baseline("recent_viewers", "recency: the longest inactive first",
                             -frame["last_us"].to_numpy()),
                    Baseline("popularity", "the least active first", -frame["n_events"].to_numpy())]
        return [Baseline("recent_viewers", "the most recent cart first",
                         _recent_key(frame["touch"], frame["n_events"])),
                Baseline("popularity", "the most active users first",
                         frame["n_events"].to_numpy())]

    def test_cut(self) -> tuple[int | None, int]:
        """The goal model's own test cut-off (its training and calibration end before it)."""
        _, meta = load_checkpoint(self.ws, self.source, self.kind)
        test = ((meta.get("evaluation") or {}).get("cutoffs") or {}).get("test")
        if test is None:
            raise InputError(f"the {self.kind} checkpoint of {self.source!r} records no test "
                             "cut-off; retrain it")
        return None, int(pd.Timestamp(test).value // 1000)

    def calibrate(self, frame: pd.DataFrame, cut: int) -> Calibration:
        """The goal model's probabilities are already calibrated by its trainer."""
        return Calibration("model", None, features=[self.kind],
                           note=f"calibrated by the {self.kind} model's trainer on its "
                                "temporal calibration window")

def _span_horizon(span: SourceSpan) -> int:
    """Default horizon without an intent model: a fifth of the log, at most a day."""
    if span.min_us is None or span.max_us is None:
        return US_PER_DAY
    minute = 60_000_000
    return max(minute, min(US_PER_DAY, (span.max_us - span.min_us) // 5 // minute * minute))



def duration_text(us: int) -> str:
    """A horizon as people write it: "1 day", "30 minutes", "180 days"."""
    for unit, size in (("day", US_PER_DAY), ("hour", 3_600_000_000), ("minute", 60_000_000)):
        if us % size == 0:
            n = us // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{us / 1e6:g} seconds"


def make_scorer(ws: Workspace, con: duckdb.DuckDBPyConnection, source: str,
                resolved: S.ResolvedTarget, options: AudienceOptions,
                span: SourceSpan) -> Scorer:
    """The scorer of `resolved`'s kind (InputError when the models it needs are missing)."""
    cls = GoalScorer if resolved.is_goal else ItemScorer
    return cls(ws, con, source, resolved, options, span)
