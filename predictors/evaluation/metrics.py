"""Ranking metrics for next-item prediction with a single target per user.

Everything is computed from the 0-based rank of the target item in a FULL ranking over the
catalog (no sampled negatives): rank 0 means the target was scored highest.

* ``HR@K``   = mean(rank < K)
* ``NDCG@K`` = mean(1 / log2(rank + 2) if rank < K else 0)   (one relevant item, so IDCG = 1)
* ``MRR``    = mean(1 / (rank + 1))                           (untruncated)

Protocol notes (checked against the sources of the published Beauty anchors):

* Padding (index 0) is never a candidate.
* History items are NOT filtered by default. The S3-Rec reference code (``trainers.py`` /
  ``utils.generate_rating_matrix_*``) does set the scores of a user's history items to 0
  before ranking, i.e. it (approximately) filters history; the eSASRec benchmark
  (blondered/transformer_benchmark, RecTools-based) could not be verified from its stored
  files. :func:`mask_history` implements filtering so both variants can be reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from predictors.sequences import PAD_ID


def ranks_from_scores(
    scores: torch.Tensor, targets: torch.Tensor, *, ties: str = "pessimistic"
) -> torch.Tensor:
    """0-based rank of each target among all non-padding items.

    Args:
        scores: ``[B, V]`` scores, higher is better; column ``PAD_ID`` is ignored.
        targets: ``[B]`` target item ids (``>= 1``).
        ties: ``"pessimistic"`` counts items tied with the target as ranked above it (cannot
            inflate metrics of scorers with many equal scores); ``"optimistic"`` does not.

    Returns:
        ``[B]`` long tensor of ranks.
    """
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"unknown ties mode {ties!r}")
    targets = targets.to(scores.device).long()
    target_scores = scores.gather(1, targets[:, None])  # [B, 1]
    if ties == "pessimistic":
        # items scoring >= the target, minus the target itself
        above = (scores >= target_scores).sum(dim=1, dtype=torch.int32).long() - 1
        pad_above = scores[:, PAD_ID] >= target_scores[:, 0]
    else:
        above = (scores > target_scores).sum(dim=1, dtype=torch.int32).long()
        pad_above = scores[:, PAD_ID] > target_scores[:, 0]
    above = above - pad_above.long()  # padding is never a candidate
    return above


def _as_ranks(ranks: torch.Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    if isinstance(ranks, torch.Tensor):
        ranks = ranks.detach().cpu().numpy()
    arr = np.asarray(ranks, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError("ranks must be 1-D")
    if arr.size and arr.min() < 0:
        raise ValueError("ranks must be >= 0")
    return arr


def hit_rate_at_k(ranks: torch.Tensor | np.ndarray | Sequence[int], k: int) -> float:
    """Share of users whose target is in the top ``k``."""
    arr = _as_ranks(ranks)
    return float((arr < k).mean()) if arr.size else 0.0


def ndcg_at_k(ranks: torch.Tensor | np.ndarray | Sequence[int], k: int) -> float:
    """Mean NDCG@k with one relevant item: ``1/log2(rank+2)`` inside the top ``k``, else 0."""
    arr = _as_ranks(ranks)
    if not arr.size:
        return 0.0
    gains = np.where(arr < k, 1.0 / np.log2(arr + 2.0), 0.0)
    return float(gains.mean())


def mrr(ranks: torch.Tensor | np.ndarray | Sequence[int]) -> float:
    """Mean reciprocal rank over the full ranking (no cut-off)."""
    arr = _as_ranks(ranks)
    return float((1.0 / (arr + 1.0)).mean()) if arr.size else 0.0


def summarize_ranks(
    ranks: torch.Tensor | np.ndarray | Sequence[int], ks: Iterable[int] = (10, 20)
) -> dict[str, float]:
    """All metrics in one dict: ``HR@k``, ``NDCG@k`` for each ``k`` and ``MRR``."""
    arr = _as_ranks(ranks)
    out: dict[str, float] = {}
    for k in ks:
        out[f"HR@{k}"] = hit_rate_at_k(arr, k)
        out[f"NDCG@{k}"] = ndcg_at_k(arr, k)
    out["MRR"] = mrr(arr)
    return out


def mask_history(scores: torch.Tensor, histories: Sequence[Sequence[int]]) -> torch.Tensor:
    """Set the scores of each row's history items to ``-inf`` (in place) and return them.

    Used for the "filter seen items" protocol. A target that also appears in the history is
    masked too (as in the S3-Rec reference code), so it counts as a miss.
    """
    rows = [np.full(len(h), r, dtype=np.int64) for r, h in enumerate(histories) if len(h)]
    if not rows:
        return scores
    row_idx = torch.from_numpy(np.concatenate(rows)).to(scores.device)
    col_idx = torch.as_tensor(
        np.concatenate([np.asarray(h, dtype=np.int64) for h in histories if len(h)]),
        device=scores.device,
    )
    scores[row_idx, col_idx] = float("-inf")
    return scores
