"""Batched full-ranking evaluation of any next-item scorer.

A scorer is anything with ``score_all(item_ids [B, L], type_ids [B, L] | None) -> [B, V]``
(the SASRec model and the baselines all qualify). Every user is ranked against the whole
catalog; see :mod:`predictors.evaluation.metrics` for the protocol details.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from predictors.evaluation.metrics import mask_history, ranks_from_scores, summarize_ranks
from predictors.sequences import PAD_ID, batch_width, left_pad

logger = logging.getLogger(__name__)


class Scorer(Protocol):
    """Scores every item (column 0 = padding) for a batch of left-padded histories."""

    def score_all(
        self, item_ids: torch.Tensor, type_ids: torch.Tensor | None = None
    ) -> torch.Tensor: ...


def _device_of(scorer: Scorer) -> torch.device:
    if isinstance(scorer, nn.Module):
        for param in scorer.parameters():
            return param.device
    return torch.device("cpu")


@dataclass
class _EvalMode:
    """Context manager: switch an ``nn.Module`` to eval mode and restore it afterwards."""

    scorer: Scorer
    was_training: bool = False

    def __enter__(self) -> None:
        if isinstance(self.scorer, nn.Module):
            self.was_training = self.scorer.training
            self.scorer.eval()

    def __exit__(self, *exc: object) -> None:
        if isinstance(self.scorer, nn.Module) and self.was_training:
            self.scorer.train()


def _scored_batches(
    scorer: Scorer,
    inputs: Sequence[Sequence[int]],
    max_len: int,
    type_inputs: Sequence[Sequence[int]] | None,
    batch_size: int,
    progress: bool = False,
) -> Iterator[tuple[np.ndarray, list[Sequence[int]], torch.Tensor]]:
    """``(rows, histories, scores [B, V])`` per batch of users, in eval and inference mode.

    Users go in order of history length so each batch is only as wide as it needs to be
    (scorers must be padding-invariant, which SASRec and the baselines are).
    """
    device = _device_of(scorer)
    order = np.argsort([min(len(h), max_len) for h in inputs], kind="stable")
    with _EvalMode(scorer), torch.inference_mode():
        for start in tqdm(
            range(0, len(order), batch_size), desc="ranking", leave=False, disable=not progress
        ):
            rows = order[start : start + batch_size]
            hist = [inputs[i] for i in rows]
            width = batch_width(hist, max_len)
            item_ids = left_pad(hist, max_len, pad_to=width).to(device)
            type_ids = None
            if type_inputs is not None:
                types = [type_inputs[i] for i in rows]
                type_ids = left_pad(types, max_len, pad_to=width).to(device)
            yield rows, hist, scorer.score_all(item_ids, type_ids)


def compute_ranks(
    scorer: Scorer,
    inputs: Sequence[Sequence[int]],
    targets: Sequence[int],
    *,
    max_len: int,
    type_inputs: Sequence[Sequence[int]] | None = None,
    batch_size: int = 512,
    filter_history: bool = False,
    ties: str = "pessimistic",
    progress: bool = False,
) -> np.ndarray:
    """0-based rank of each target in the full catalog ranking.

    Args:
        scorer: model or baseline exposing ``score_all``.
        inputs: per-user history (oldest -> newest); only the last ``max_len`` items are fed
            to the scorer, but ``filter_history`` masks the full history.
        targets: per-user target item id (``>= 1``).
        max_len: model input width.
        type_inputs: event types aligned with ``inputs`` (multi-behavior models) or ``None``.
        batch_size: users per scoring batch (``batch_size * V`` floats live at once).
        filter_history: set history items' scores to ``-inf`` before ranking.
        ties: tie handling, see :func:`ranks_from_scores`.
        progress: show a tqdm bar.

    Returns:
        ``[n_users]`` int64 array of ranks.
    """
    if len(inputs) != len(targets):
        raise ValueError("inputs and targets must have the same length")
    if any(int(t) == PAD_ID for t in targets):
        raise ValueError("targets must be real item ids (>= 1)")
    out = np.empty(len(targets), dtype=np.int64)
    batches = _scored_batches(scorer, inputs, max_len, type_inputs, batch_size, progress)
    for rows, hist, scores in batches:
        if filter_history:
            scores = mask_history(scores, hist)
        tgt = torch.as_tensor([int(targets[i]) for i in rows], dtype=torch.long)
        out[rows] = ranks_from_scores(scores, tgt, ties=ties).cpu().numpy()
    return out


def evaluate(
    scorer: Scorer,
    inputs: Sequence[Sequence[int]],
    targets: Sequence[int],
    *,
    max_len: int,
    ks: Iterable[int] = (10, 20),
    type_inputs: Sequence[Sequence[int]] | None = None,
    batch_size: int = 512,
    filter_history: bool = False,
    ties: str = "pessimistic",
    progress: bool = False,
) -> dict[str, float]:
    """Full-ranking HR@k, NDCG@k (default k = 10, 20) and MRR of ``scorer`` on one eval set."""
    ranks = compute_ranks(
        scorer,
        inputs,
        targets,
        max_len=max_len,
        type_inputs=type_inputs,
        batch_size=batch_size,
        filter_history=filter_history,
        ties=ties,
        progress=progress,
    )
    return summarize_ranks(ranks, ks)


def top_k_throughput(
    scorer: Scorer,
    inputs: Sequence[Sequence[int]],
    *,
    max_len: int,
    k: int = 10,
    type_inputs: Sequence[Sequence[int]] | None = None,
    batch_size: int = 512,
) -> dict[str, float]:
    """Time producing top-``k`` recommendations for every history in ``inputs``.

    Covers length-sorted batching, padding, scoring and top-k selection (not target
    ranking). Returns the wall time, users per second and the number of users scored.
    """
    device = _device_of(scorer)
    start_time = time.perf_counter()
    for _, _, scores in _scored_batches(scorer, inputs, max_len, type_inputs, batch_size):
        torch.topk(scores, k, dim=1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start_time
    n = len(inputs)
    return {"users": float(n), "seconds": elapsed, "users_per_s": n / elapsed if elapsed else 0.0}
