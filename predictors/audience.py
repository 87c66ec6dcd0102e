"""The audience builder: which users to target for an item, a category, a brand or a goal.

Users are ranked by the probability of the target's outcome within the horizon:

* item / category / brand — P(the user interacts with one of the target's items within h)
  (purchases only with ``purchase_only``): the current next-item checkpoint's softmax
  probability summed over the target's items, joined by the intent and churn probabilities
  where the source has those models and by the user's recent activity and recent touches of
  the target (``options.signals``), calibrated on a temporal backtest
  (:mod:`predictors.audience_backtest`);
* goal ``convert-carts`` — P(the user buys an item of their open cart within the intent
  horizon), from the intent model's calibrated item probabilities;
* goal ``winback`` — P(no activity within the churn horizon), from the churn model.

Filters (segment, churn / intent band, last activity, recent buyers of the target) narrow the
users; a size and / or a probability threshold cut the ranking. The expected conversions are
the sum of the audience's calibrated probabilities, and the backtest replays the same
selection at a past cut-off (precision@K, lift over random users, recent viewers of the target
and popularity).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from core.errors import InputError
from predictors import audience_scores as S
from predictors.audience_backtest import (
    COVARIATES,
    Backtest,
    Calibration,
    evaluate_ranking,
    labels_for,
    top_k,
)
from predictors.audience_scorers import US_PER_DAY, Scorer, duration_text, make_scorer
from predictors.audience_scores import AudienceTarget
from predictors.features import iso, source_span
from store.queries import table_exists
from store.readers import require_source
from store.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["Audience", "AudienceOptions", "AudienceTarget", "AudienceUser", "build_audience"]

BANDS = {"low": (0.0, 1 / 3), "medium": (1 / 3, 2 / 3), "high": (2 / 3, 1.0)}
"""Named bands are tertiles of the score among the candidate users at the cut-off."""


@dataclass
class AudienceOptions:
    """Filters, cut and backtest settings of an audience (defaults: top 100, backtested)."""

    size: int | None = 100
    threshold: float | None = None
    segment: int | None = None
    churn_band: str | None = None
    intent_band: str | None = None
    active_within_days: float | None = None
    inactive_days: float | None = None
    exclude_buyers: bool = False
    buyer_days: float = 30.0
    horizon: str | None = None
    purchase_only: bool = False
    signals: tuple[str, ...] = ("intent", "churn", "activity", "recent_touch")
    backtest: bool = True
    backtest_epochs: int = 8
    seed: int = 0

    def check(self) -> None:
        """InputError naming the first option out of range."""
        if self.size is not None and self.size < 1:
            raise InputError(f"size must be at least 1, got {self.size}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"threshold must be a probability in [0, 1], got {self.threshold}")
        unknown = [x for x in self.signals if x not in COVARIATES]
        if unknown:
            raise InputError(f"unknown signal(s) {', '.join(unknown)}; choose from "
                             f"{', '.join(COVARIATES)}")
        for name in ("churn_band", "intent_band"):
            value = getattr(self, name)
            if value is not None:
                _band(value, name)


@dataclass
class AudienceUser:
    """One user of the audience."""

    user_id: str
    probability: float
    score: float
    last_active: str | None = None
    segment: int | None = None
    intent: float | None = None
    churn: float | None = None
    intent_band: str | None = None
    churn_band: str | None = None


@dataclass
class Audience:
    """The ranked users with their expected conversions, calibration and backtest."""

    source: str
    target: AudienceTarget
    outcome: str
    horizon: str
    model_version: str
    users: list[AudienceUser]
    eligible_users: int
    expected_conversions: float
    calibration: dict[str, Any]
    backtest: Backtest | None
    filters: dict[str, Any] = field(default_factory=dict)
    n_target_items: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (`users` with `user_id` and `probability`; `backtest.lift` over random)."""
        return {
            "source": self.source, "target": {"kind": self.target.kind,
                                              "value": self.target.value,
                                              "items": self.n_target_items},
            "outcome": self.outcome, "horizon": self.horizon, "model_version": self.model_version,
            "size": len(self.users), "eligible_users": self.eligible_users,
            "expected_conversions": self.expected_conversions, "calibration": self.calibration,
            "backtest": self.backtest.to_dict() if self.backtest else None,
            "filters": self.filters, "notes": self.notes,
            "users": [asdict(u) for u in self.users],
        }


def _band(text: str, what: str) -> tuple[str, float, float]:
    """('tertile' | 'range', low, high) of a band option: low / medium / high or 'A-B'."""
    name = text.strip().lower()
    if name in BANDS:
        return ("tertile", *BANDS[name])
    lo, sep, hi = name.partition("-")
    try:
        low, high = float(lo), float(hi)
    except ValueError:
        low, high = -1.0, -1.0
    if not sep or not 0.0 <= low <= high <= 1.0:
        raise InputError(f"bad {what.replace('_', ' ')} {text!r}: low, medium, high or a "
                         "probability range such as 0.5-1")
    return ("range", low, high)


def _in_band(values: pd.Series, spec: tuple[str, float, float]) -> pd.Series:
    kind, low, high = spec
    if kind == "tertile":
        ranks = values.rank(pct=True, method="average")
        return (ranks > low) & (ranks <= high) if low > 0 else ranks <= high
    return (values >= low) & (values <= high)


def band_names(values: pd.Series) -> pd.Series:
    """Each value's named band (low / medium / high tertile among `values`), as the band
    filters define them; missing values have none."""
    ranks = values.rank(pct=True, method="average")
    names = pd.Series([None] * len(values), index=values.index, dtype=object)
    for name, (low, high) in BANDS.items():
        names[(ranks > low) & (ranks <= high) if low > 0 else ranks <= high] = name
    return names


def _segments(con: duckdb.DuckDBPyConnection, source: str, required: bool) -> pd.Series | None:
    """Each user's segment from `user_scores`; InputError when `required` and there is none."""
    rows = con.execute("SELECT user_id, segment FROM user_scores WHERE source = ? AND segment "
                       "IS NOT NULL", [source]).fetchall() if table_exists(con, "user_scores") \
        else []
    if not rows and required:
        raise InputError(f"no segments for source {source!r}; run `insight train --source "
                         f"{source}` and `insight score --source {source}`")
    return pd.Series({str(u): int(s) for u, s in rows}, dtype="Int64") if rows else None


def _filter(scorer: Scorer, frame: pd.DataFrame, cut: int | None, segments: pd.Series | None,
            notes: list[str]) -> pd.DataFrame:
    """The rows of `frame` that pass the options' filters, as of `cut` (None: end of log)."""
    o = scorer.options
    ref = cut if cut is not None else (scorer.span.max_us or 0) + 1
    keep = pd.Series(True, index=frame.index)
    if o.segment is not None and segments is not None:
        keep &= (segments.reindex(frame.index) == o.segment).fillna(False).astype(bool)
    for column, band in (("churn", o.churn_band), ("intent", o.intent_band)):
        if band is None:
            continue
        if column not in frame or frame[column].isna().all():
            raise InputError(f"a {column} band needs a {column} model that scores source "
                             f"{scorer.source!r}; run `insight train --only {column}`")
        keep &= _in_band(frame[column], _band(band, f"{column}_band")).fillna(False)
    idle = (ref - frame["last_us"]) / US_PER_DAY
    if o.active_within_days is not None:
        keep &= idle <= o.active_within_days
    if o.inactive_days is not None:
        keep &= idle >= o.inactive_days
    if o.exclude_buyers:
        if scorer.resolved.is_goal:
            notes.append("exclude-buyers applies to item, category and brand targets only")
        else:
            start = ref - int(o.buyer_days * US_PER_DAY)
            buyers = S.converted(scorer.con, scorer.source, scorer.resolved.items, start, ref,
                                 purchase_only=True)
            keep &= ~frame.index.isin(list(buyers))
    return frame[keep.to_numpy(dtype=bool)]


def _select(p: np.ndarray, options: AudienceOptions) -> np.ndarray:
    """Indices of the audience: threshold first, then the top `size` by probability."""
    order = top_k(p, p.size)
    if options.threshold is not None:
        order = order[p[order] >= options.threshold]
    return order[: options.size] if options.size is not None else order


def build_audience(ws: Workspace, source: str, target: AudienceTarget,
                   options: AudienceOptions | None = None) -> Audience:
    """Rank the users of `source` for `target`, filter and cut them, with expected
    conversions and (unless ``options.backtest`` is off) a temporal backtest.

    InputError (one line, naming the thing) for an unknown source, item, category, brand or
    goal, a source without the models the target needs, or options out of range.
    """
    options = options or AudienceOptions()
    options.check()
    source = require_source(ws, source)
    con = ws.connect()
    try:
        resolved = S.resolve_target(con, source, target)
        span = source_span(con, source)
        scorer = make_scorer(ws, con, source, resolved, options, span)
        segments = _segments(con, source, required=options.segment is not None)
        notes: list[str] = []
        backtest, calibration = None, Calibration("none", note="no backtest was run")
        candidates = scorer.frame(None, False)
        now = _filter(scorer, candidates, None, segments, notes)
        if options.backtest and span.max_us is not None:
            backtest, calibration = _backtest(scorer, now, segments, notes)
        elif options.backtest:
            notes.append("untimed source: no temporal backtest or calibration")
        elif resolved.is_goal:
            calibration = scorer.calibrate(now, 0)
        else:
            notes.append("no backtest: the probabilities are the uncalibrated next-item mass "
                         "(P(the next interaction is on the target)), not P(within the horizon)")
        if resolved.is_goal:
            p = now["probability"].to_numpy(dtype=np.float64)
        else:
            p = calibration.predict(now)
        chosen = _select(p, options)
    finally:
        con.close()
    bands = {c: band_names(candidates[c]) for c in ("intent", "churn")
             if c in candidates and not candidates[c].isna().all()}
    users = [_user(now, i, float(p[i]), segments, bands) for i in chosen]
    filters = {k: v for k, v in asdict(options).items()
               if k not in ("backtest", "backtest_epochs", "seed", "signals")
               and v not in (None, False) and (k != "buyer_days" or options.exclude_buyers)}
    return Audience(
        source=source, target=target, outcome=scorer.outcome,
        horizon=duration_text(scorer.horizon_us),
        model_version="+".join(scorer.versions), users=users, eligible_users=len(now),
        expected_conversions=float(sum(u.probability for u in users)),
        calibration=calibration.to_dict(), backtest=backtest, filters=filters,
        n_target_items=len(resolved.items), notes=notes)


def _backtest(scorer: Scorer, now: pd.DataFrame, segments: pd.Series | None,
              notes: list[str]) -> tuple[Backtest, Calibration]:
    """Calibrate at the calibration cut, choose the audience at the test cut, compare."""
    cal_cut, test_cut = scorer.test_cut()
    if cal_cut is not None:
        calibration = scorer.calibrate(scorer.frame(cal_cut, True), cal_cut)
    else:
        calibration = scorer.calibrate(now, test_cut)
    past = _filter(scorer, scorer.frame(test_cut, True), test_cut, segments, [])
    if scorer.resolved.is_goal:
        p = past["probability"].to_numpy(dtype=np.float64)
    else:
        p = calibration.predict(past)
    y = labels_for(past, scorer.outcome_users(past, test_cut, test_cut + scorer.horizon_us))
    size = len(_select(calibration.predict(now) if not scorer.resolved.is_goal
                       else now["probability"].to_numpy(dtype=np.float64), scorer.options))
    k = size or (scorer.options.size or 100)
    model = ("the goal model scored at its test cut-off" if scorer.resolved.is_goal else
             f"a next-item model trained on events before {iso(cal_cut or test_cut)}")
    backtest = evaluate_ranking(
        p, y, k, scorer.baselines(past), cutoff=iso(test_cut),
        horizon=duration_text(scorer.horizon_us), outcome=scorer.outcome,
        model=model, calibration_cutoff=None if cal_cut is None else iso(cal_cut))
    if calibration.method == "none":
        notes.append(calibration.note)
    return backtest, calibration


def _user(frame: pd.DataFrame, i: int, p: float, segments: pd.Series | None,
          bands: dict[str, pd.Series]) -> AudienceUser:
    row = frame.iloc[i]
    uid = frame.index[i]
    last = row.get("last_us")

    def opt(name: str) -> float | None:
        value = row.get(name)
        return None if value is None or pd.isna(value) else round(float(value), 6)

    seg = None if segments is None else segments.get(str(frame.index[i]))
    seg = None if seg is None or pd.isna(seg) else seg
    return AudienceUser(
        user_id=str(frame.index[i]), probability=round(p, 6), score=round(float(row["score"]), 8),
        last_active=None if last is None or pd.isna(last) else iso(int(last)),
        segment=None if seg is None else int(seg), intent=opt("intent"), churn=opt("churn"),
        intent_band=_band_of(bands, "intent", uid), churn_band=_band_of(bands, "churn", uid))


def _band_of(bands: dict[str, pd.Series], column: str, user: Any) -> str | None:
    name = bands[column].get(user) if column in bands else None
    return None if name is None or pd.isna(name) else str(name)
