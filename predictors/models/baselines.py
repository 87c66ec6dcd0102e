"""Non-neural next-item baselines with the same ``score_all`` interface as :class:`SASRec`.

Both take left-padded ``[B, L]`` item-id batches (torch or numpy) and return float32 torch
scores ``[B, n_items + 1]`` with column 0 (padding) set to ``-inf``, so the evaluator can rank
them exactly like the neural model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from predictors.sequences import PAD_ID


def _as_numpy(item_ids: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(item_ids, torch.Tensor):
        return item_ids.detach().cpu().numpy()
    return np.asarray(item_ids)


def item_counts(sequences: Sequence[Sequence[int]], n_items: int) -> np.ndarray:
    """Occurrences of each item id in ``sequences`` as a ``[n_items + 1]`` float array."""
    flat = np.fromiter((i for seq in sequences for i in seq), dtype=np.int64)
    return np.bincount(flat, minlength=n_items + 1)[: n_items + 1].astype(np.float64)


class MostPopular:
    """Recommend the items seen most often in training, identically for every user."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self.scores: np.ndarray | None = None

    def fit(self, sequences: Sequence[Sequence[int]]) -> MostPopular:
        """Count item occurrences in the training sequences."""
        counts = item_counts(sequences, self.n_items)
        counts[PAD_ID] = -np.inf
        self.scores = counts.astype(np.float32)
        return self

    def score_all(
        self, item_ids: torch.Tensor | np.ndarray, type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Popularity scores for each row: ``[B, L] -> [B, n_items + 1]``."""
        if self.scores is None:
            raise RuntimeError("call fit() first")
        batch = _as_numpy(item_ids).shape[0]
        return torch.from_numpy(np.broadcast_to(self.scores, (batch, self.n_items + 1)).copy())


class ItemTransition:
    """First-order Markov recommender with co-occurrence and popularity smoothing.

    Score of candidate ``j`` after recent items ``i_1`` (newest) ... ``i_m``::

        sum_k decay**(k-1) * [P(j | i_k) + cooc_weight * Q(j | i_k)] + pop_weight * pop(j)

    ``P`` is the row-normalised count of ``i -> j`` as the immediately next item; ``Q`` is the
    row-normalised count of ``j`` appearing within ``window`` positions after ``i`` (a fallback
    for sparse transitions); ``pop`` is the normalised item frequency (breaks ties, covers items
    with no outgoing transitions). Defaults use only the newest item (``n_last=1``).
    """

    def __init__(
        self,
        n_items: int,
        *,
        window: int = 5,
        cooc_weight: float = 0.1,
        pop_weight: float = 1e-3,
        n_last: int = 1,
        decay: float = 0.5,
    ) -> None:
        self.n_items = n_items
        self.window = window
        self.cooc_weight = cooc_weight
        self.pop_weight = pop_weight
        self.n_last = n_last
        self.decay = decay
        self.transition: sp.csr_matrix | None = None
        self.cooc: sp.csr_matrix | None = None
        self.popularity: np.ndarray | None = None
        self._combined: sp.csr_matrix | None = None  # P + cooc_weight * Q, float32

    @staticmethod
    def _row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
        sums = np.asarray(matrix.sum(axis=1)).ravel()
        inv = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
        return sp.csr_matrix(sp.diags(inv) @ matrix)

    def fit(self, sequences: Sequence[Sequence[int]]) -> ItemTransition:
        """Count transitions and windowed co-occurrences in the training sequences."""
        size = self.n_items + 1
        t_rows, t_cols, c_rows, c_cols = [], [], [], []
        for seq in sequences:
            arr = np.asarray(seq, dtype=np.int64)
            if arr.size < 2:
                continue
            t_rows.append(arr[:-1])
            t_cols.append(arr[1:])
            for gap in range(2, self.window + 1):
                if arr.size > gap:
                    c_rows.append(arr[:-gap])
                    c_cols.append(arr[gap:])

        def build(rows: list[np.ndarray], cols: list[np.ndarray]) -> sp.csr_matrix:
            if not rows:
                return sp.csr_matrix((size, size), dtype=np.float64)
            r, c = np.concatenate(rows), np.concatenate(cols)
            return sp.csr_matrix((np.ones(r.size), (r, c)), shape=(size, size))

        self.transition = self._row_normalise(build(t_rows, t_cols))
        self.cooc = self._row_normalise(build(t_rows + c_rows, t_cols + c_cols))
        counts = item_counts(sequences, self.n_items)
        counts[PAD_ID] = 0.0
        self.popularity = counts / max(counts.sum(), 1.0)
        combined = self.transition + self.cooc_weight * self.cooc
        self._combined = sp.csr_matrix(combined, dtype=np.float32)
        return self

    def score_all(
        self, item_ids: torch.Tensor | np.ndarray, type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Transition scores from each row's most recent items: ``[B, L] -> [B, n_items + 1]``."""
        if self._combined is None or self.popularity is None:
            raise RuntimeError("call fit() first")
        ids = _as_numpy(item_ids)
        base = (self.pop_weight * self.popularity).astype(np.float32)
        scores = np.broadcast_to(base, (ids.shape[0], base.size)).copy()
        for k in range(1, min(self.n_last, ids.shape[1]) + 1):
            # rows whose k-th newest slot is padding add nothing (PAD has no counts)
            part = self._combined[ids[:, -k]].toarray()
            scores += np.float32(self.decay ** (k - 1)) * part
        out = torch.from_numpy(scores)
        out[:, PAD_ID] = float("-inf")
        return out
