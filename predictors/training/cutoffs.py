"""The cut-off schedule of a temporal split: train, calibration and test cut-offs.

All cut-offs share one horizon ``h``; see :func:`plan_cutoffs`::

    train cut-offs  t_1 < … < t_n      labels in [t_i, t_i + h),  t_n + h <= c_1
    calibration     c_1 < … < c_m      labels in [c_j, c_j + h),  c_m + h <= T
    test            T                  labels in [T, T + h)

Features at any cut-off read only events before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import InputError
from predictors.features import (
    DurationLike,
    SourceSpan,
    TimeLike,
    check_cutoff,
    iso,
    to_duration_us,
    to_epoch_us,
)

STAGES: tuple[str, ...] = ("train", "calibration", "test")
"""The stages of a split, in time order."""


@dataclass(frozen=True)
class CutoffPlan:
    """The cut-offs (epoch µs) of a temporal split and their shared horizon."""

    train: tuple[int, ...]
    calibration: tuple[int, ...]
    test: int
    horizon_us: int

    def stages(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(stage name, its cut-offs) for each of :data:`STAGES`."""
        return (("train", self.train), ("calibration", self.calibration), ("test", (self.test,)))

    def to_dict(self) -> dict[str, Any]:
        """Cut-offs as ISO text, horizon in hours."""
        return {
            "train": [iso(c) for c in self.train],
            "calibration": [iso(c) for c in self.calibration],
            "test": iso(self.test),
            "horizon_hours": self.horizon_us / 3.6e9,
            "label_window": "[cut-off, cut-off + horizon)",
            "features": "events strictly before the cut-off",
        }


def plan_cutoffs(
    span: SourceSpan,
    horizon: DurationLike,
    test_cutoff: TimeLike | None,
    n_train: int,
    n_calibration: int = 1,
    step: DurationLike | None = None,
    purpose: str = "training",
) -> CutoffPlan:
    """Lay out train / calibration / test cut-offs backwards from the test cut-off.

    Default test cut-off: the last event minus one horizon. Calibration cut-offs end one
    horizon before the test cut-off; training cut-offs end one horizon before the first
    calibration cut-off, so no label window overlaps a later stage. Every cut-off is checked
    against the data range (InputError names the one that does not fit).
    """
    if n_train < 1 or n_calibration < 1:
        raise InputError("need at least one training and one calibration cut-off")
    h = to_duration_us(horizon)
    s = h if step is None else to_duration_us(step)
    if span.max_us is None:
        check_cutoff(span, 0, purpose)  # raises: no timestamps
    assert span.max_us is not None
    test = span.max_us - h if test_cutoff is None else to_epoch_us(test_cutoff)
    check_cutoff(span, test, f"{purpose} (test cut-off)", h)
    calib = tuple(sorted(test - h - i * s for i in range(n_calibration)))
    train = tuple(sorted(calib[0] - h - i * s for i in range(n_train)))
    for c in calib:
        check_cutoff(span, c, f"{purpose} (calibration cut-off)", h)
    for c in train:
        check_cutoff(span, c, f"{purpose} (training cut-off; use fewer or a shorter step)", h)
    return CutoffPlan(train=train, calibration=calib, test=test, horizon_us=h)


def selection_cutoffs(plan: CutoffPlan, n_folds: int) -> list[int]:
    """Validation cut-offs for model selection: the first calibration cut-off, then training
    cut-offs one horizon apart going back (those present in the plan)."""
    folds = [plan.calibration[0]]
    train = set(plan.train)
    for j in range(1, max(1, n_folds)):
        v = plan.calibration[0] - j * plan.horizon_us
        if v in train:
            folds.append(v)
    return folds
