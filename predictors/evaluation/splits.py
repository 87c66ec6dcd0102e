"""Train / validation / test splits for next-item evaluation.

* :func:`leave_one_out_split` - the SASRec / S3-Rec protocol for order-only logs (e.g. Amazon
  Beauty): last item = test target, second-to-last = validation target, the rest = training.
* :func:`temporal_split` - for timestamped logs: everything before a global cut-off trains;
  the first event after the cut-off is each user's test target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class EvalSet:
    """Inputs and single next-item targets for one evaluation stage.

    Attributes:
        users: row index (or user key) of each example in the source data.
        inputs: history fed to the model (oldest -> newest).
        targets: the item to predict after ``inputs``.
        type_inputs: event types aligned with ``inputs`` (or ``None``).
    """

    users: list[int] = field(default_factory=list)
    inputs: list[list[int]] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    type_inputs: list[list[int]] | None = None

    def __len__(self) -> int:
        return len(self.targets)


@dataclass
class LeaveOneOutSplit:
    """Result of :func:`leave_one_out_split`.

    ``train`` has one sequence per user (``seq[:-2]`` for users with >= 3 items, the whole
    sequence otherwise). ``valid`` predicts ``seq[-2]`` from ``seq[:-2]``; ``test`` predicts
    ``seq[-1]`` from ``seq[:-1]``.
    """

    train: list[list[int]]
    valid: EvalSet
    test: EvalSet
    train_types: list[list[int]] | None = None


def leave_one_out_split(
    sequences: Sequence[Sequence[int]],
    type_sequences: Sequence[Sequence[int]] | None = None,
    *,
    min_length: int = 3,
) -> LeaveOneOutSplit:
    """Split chronologically ordered per-user sequences by leaving the last items out.

    Users with fewer than ``min_length`` (>= 3) items only contribute to training.
    """
    if min_length < 3:
        raise ValueError("leave-one-out needs at least 3 items per evaluated user")
    with_types = type_sequences is not None
    if with_types and len(type_sequences) != len(sequences):
        raise ValueError("type_sequences must align with sequences")
    train: list[list[int]] = []
    train_types: list[list[int]] | None = [] if with_types else None
    valid = EvalSet(type_inputs=[] if with_types else None)
    test = EvalSet(type_inputs=[] if with_types else None)
    for u, seq in enumerate(sequences):
        seq = list(seq)
        types = list(type_sequences[u]) if with_types else None
        if types is not None and len(types) != len(seq):
            raise ValueError(f"type sequence {u} length differs from item sequence")
        if len(seq) < min_length:
            train.append(seq)
            if train_types is not None and types is not None:
                train_types.append(types)
            continue
        train.append(seq[:-2])
        valid.users.append(u)
        valid.inputs.append(seq[:-2])
        valid.targets.append(seq[-2])
        test.users.append(u)
        test.inputs.append(seq[:-1])
        test.targets.append(seq[-1])
        if types is not None:
            assert train_types is not None
            assert valid.type_inputs is not None and test.type_inputs is not None
            train_types.append(types[:-2])
            valid.type_inputs.append(types[:-2])
            test.type_inputs.append(types[:-1])
    return LeaveOneOutSplit(train=train, valid=valid, test=test, train_types=train_types)


@dataclass
class TemporalSplit:
    """Result of :func:`temporal_split`.

    ``train`` holds each user's events before the cut-off (users with none are omitted);
    ``test`` predicts each user's first event at/after the cut-off from their pre-cut-off
    history (users without pre-cut-off history are cold-start and skipped unless
    ``keep_cold_users``). ``future`` lists all post-cut-off items per test example.
    """

    train_users: list[int]
    train: list[list[int]]
    test: EvalSet
    future: list[list[int]]
    train_types: list[list[int]] | None = None


def temporal_split(
    user_ids: Sequence[int] | np.ndarray,
    item_ids: Sequence[int] | np.ndarray,
    timestamps: Sequence[float] | np.ndarray,
    cutoff: float,
    *,
    type_ids: Sequence[int] | np.ndarray | None = None,
    keep_cold_users: bool = False,
) -> TemporalSplit:
    """Split an event log at a global timestamp ``cutoff``.

    Events are sorted per user by timestamp (stable, so ties keep log order). Events with
    ``timestamp < cutoff`` train; the first event with ``timestamp >= cutoff`` is the target.
    """
    users = np.asarray(user_ids)
    items = np.asarray(item_ids, dtype=np.int64)
    times = np.asarray(timestamps, dtype=np.float64)
    types = None if type_ids is None else np.asarray(type_ids, dtype=np.int64)
    if not (len(users) == len(items) == len(times)) or (
        types is not None and len(types) != len(items)
    ):
        raise ValueError("event columns must have equal length")
    order = np.lexsort((times, users))  # by user, then time; stable within ties
    users, items, times = users[order], items[order], times[order]
    if types is not None:
        types = types[order]
    boundaries = np.flatnonzero(np.diff(users)) + 1
    starts = np.concatenate([[0], boundaries]) if len(users) else np.array([], dtype=np.int64)
    ends = (
        np.concatenate([boundaries, [len(users)]]) if len(users) else np.array([], dtype=np.int64)
    )

    out = TemporalSplit(
        train_users=[],
        train=[],
        test=EvalSet(type_inputs=None if types is None else []),
        future=[],
        train_types=None if types is None else [],
    )
    for start, end in zip(starts, ends, strict=True):
        user = int(users[start])
        cut = start + int(np.searchsorted(times[start:end], cutoff, side="left"))
        past = items[start:cut].tolist()
        past_types = None if types is None else types[start:cut].tolist()
        if past:
            out.train_users.append(user)
            out.train.append(past)
            if out.train_types is not None and past_types is not None:
                out.train_types.append(past_types)
        if cut < end and (past or keep_cold_users):
            out.test.users.append(user)
            out.test.inputs.append(past)
            out.test.targets.append(int(items[cut]))
            out.future.append(items[cut:end].tolist())
            if out.test.type_inputs is not None and past_types is not None:
                out.test.type_inputs.append(past_types)
    return out
