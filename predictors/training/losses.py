"""Next-item losses: full softmax over the catalog (chunked) and sampled softmax with logQ.

``full`` normalises over the whole catalog (the gSASRec / eSASRec finding: far better than BCE
with one negative) without materialising all logits at once; ``sampled`` scores the target
against shared uniform or popularity negatives (:class:`NegativeSampler`), with logQ
correction, for catalogs too large for a full softmax.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from predictors.sequences import PAD_ID


def _logit_chunks(
    hidden: torch.Tensor, weight: torch.Tensor, chunk_size: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(start, stop, logits)`` per chunk of rows, ``logits = hidden[start:stop] @ weight.T``
    written into one buffer that every chunk reuses (it may be modified in place)."""
    n = hidden.shape[0]
    buf = torch.empty(
        min(chunk_size, n), weight.shape[0], dtype=hidden.dtype, device=hidden.device
    )
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        logits = buf[: stop - start]
        torch.mm(hidden[start:stop], weight.T, out=logits)
        yield start, stop, logits


class _ChunkedSoftmaxCrossEntropy(torch.autograd.Function):
    """Mean full-softmax cross-entropy that never materialises all logits at once.

    Forward keeps only the per-row log-sum-exp; backward recomputes each chunk of logits into
    one reusable buffer and turns it into ``softmax - onehot`` in place. This trades one extra
    ``[chunk, D] x [D, V]`` matmul for no large temporary allocations, which on CPU (where
    allocating tens of MB per step costs page faults) is 2-5x faster than autograd over
    ``F.cross_entropy`` and uses ``chunk * V`` instead of ``N * V`` floats.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        chunk_size: int,
    ) -> torch.Tensor:
        lse = torch.empty(hidden.shape[0], dtype=hidden.dtype, device=hidden.device)
        for start, stop, logits in _logit_chunks(hidden, weight, chunk_size):
            row_max = logits.amax(dim=1, keepdim=True)
            lse[start:stop] = logits.sub_(row_max).exp_().sum(dim=1).log_() + row_max[:, 0]
        target_logits = (hidden * weight[targets]).sum(dim=1)
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.chunk_size = chunk_size
        return (lse - target_logits).mean()

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        hidden, weight, targets, lse = ctx.saved_tensors
        scale = grad_out / hidden.shape[0]
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        for start, stop, grad_logits in _logit_chunks(hidden, weight, ctx.chunk_size):
            grad_logits.sub_(lse[start:stop, None]).exp_()  # softmax
            rows = torch.arange(stop - start, device=hidden.device)
            grad_logits[rows, targets[start:stop]] -= 1.0  # softmax - onehot
            grad_logits.mul_(scale)
            torch.mm(grad_logits, weight, out=grad_hidden[start:stop])
            grad_weight.addmm_(grad_logits.T, hidden[start:stop])
        return grad_hidden, grad_weight, None, None


def full_softmax_loss(
    hidden: torch.Tensor, item_weight: torch.Tensor, targets: torch.Tensor, *, chunk_size: int
) -> torch.Tensor:
    """Mean cross-entropy over all real items (padding row excluded), computed in fp32.

    Args:
        hidden: ``[N, D]`` hidden states at non-padding positions.
        item_weight: ``[V, D]`` output item table (row 0 = padding).
        targets: ``[N]`` next-item ids in ``1..V-1``.
        chunk_size: positions per logits chunk (``chunk_size * V`` floats live at once).
    """
    if hidden.shape[0] == 0:
        return hidden.sum() * 0.0
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        return _ChunkedSoftmaxCrossEntropy.apply(
            hidden.float(), item_weight[1:].float(), targets - 1, chunk_size
        )


def reference_full_softmax_loss(
    hidden: torch.Tensor, item_weight: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Plain ``F.cross_entropy`` version of :func:`full_softmax_loss` (for tests/debugging)."""
    logits = hidden.float() @ item_weight[1:].float().T
    return F.cross_entropy(logits, targets - 1)


def sampled_softmax_loss(
    hidden: torch.Tensor,
    item_weight: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor | None,
) -> torch.Tensor:
    """Cross-entropy of the target against ``K`` shared sampled negatives.

    Args:
        hidden: ``[N, D]``; item_weight: ``[V, D]``; targets: ``[N]``; negatives: ``[K]``.
        log_q: ``[V]`` log sampling probability per item for logQ correction, or ``None``.
            Subtracting it from every logit makes the sampled softmax an unbiased estimate of
            the full one for non-uniform samplers.
    """
    pos = (hidden * item_weight[targets]).sum(-1, keepdim=True)  # [N, 1]
    neg = hidden @ item_weight[negatives].T  # [N, K]
    if log_q is not None:
        pos = pos - log_q[targets][:, None]
        neg = neg - log_q[negatives][None, :]
    neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([pos, neg], dim=1).float()
    return F.cross_entropy(logits, torch.zeros_like(targets))


class NegativeSampler:
    """Draws `k` shared negatives uniformly or by training popularity (``sampling``), with the
    log sampling probabilities for logQ correction when `logq_correction` is set."""

    def __init__(
        self,
        k: int,
        sampling: Literal["uniform", "popularity"],
        logq_correction: bool,
        n_items: int,
        train_sequences: Sequence[Sequence[int]],
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        self.k = k
        self.n_items = n_items
        self.generator = generator
        self.device = device
        if sampling == "popularity":
            counts = np.bincount(
                np.fromiter((i for s in train_sequences for i in s[1:]), dtype=np.int64),
                minlength=n_items + 1,
            )[: n_items + 1].astype(np.float64)
            counts[PAD_ID] = 0.0
            counts[1:] += 1.0  # every item can be drawn
            self.probs: torch.Tensor | None = torch.tensor(counts / counts.sum())
        elif sampling == "uniform":
            self.probs = None
        else:
            raise ValueError(f"unknown negative_sampling {sampling!r}")
        self.log_q: torch.Tensor | None = None
        if logq_correction:
            probs = (
                self.probs
                if self.probs is not None
                else torch.full((n_items + 1,), 1.0 / n_items, dtype=torch.float64)
            )
            self.log_q = torch.log(probs.clamp_min(1e-30)).float().to(device)

    def sample(self) -> torch.Tensor:
        """``[K]`` item ids in ``1..n_items``."""
        if self.probs is None:
            draw = torch.randint(1, self.n_items + 1, (self.k,), generator=self.generator)
        else:
            draw = torch.multinomial(self.probs, self.k, replacement=True, generator=self.generator)
        return draw.to(self.device)
