"""Training loop for next-item sequence models, kept apart from the model (RecBole-style).

Objective: cross-entropy of the next item at every non-padding position. ``loss="full"``
normalises over the whole catalog (the gSASRec / eSASRec finding: far better than BCE with one
negative); ``loss="sampled"`` uses shared uniform or popularity negatives with logQ correction
for catalogs too large for a full softmax. Validation NDCG@10 (full ranking) drives early
stopping; the best weights are restored into the model at the end.

The model must expose ``forward(item_ids, type_ids) -> [B, L, D]``, an ``item_weight`` table
``[V, D]`` (row 0 padding) and ``score_all`` (see :class:`predictors.models.SASRec`).
"""

from __future__ import annotations

import copy
import logging
import os
import random
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from predictors.evaluation.evaluator import evaluate
from predictors.sequences import (
    PAD_ID,
    LengthBucketSampler,
    NextItemCollator,
    NextItemDataset,
    SequenceBatch,
)

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """All training hyperparameters (architecture lives in ``SASRecConfig``).

    Defaults are the recipe tuned on Amazon Beauty validation (see
    ``benchmarks/beauty_sasrec.py``), except that the loss defaults to the exact full softmax;
    the benchmark uses ``loss="sampled"`` with 2048 popularity negatives + logQ, which matched
    the full softmax on validation at about a third of the CPU cost.

    Attributes:
        max_len: input width; each user's training prefix is cut to its last ``max_len + 1``.
        batch_size: users per step; lr / betas / weight_decay: AdamW (no decay on biases and
            LayerNorm gains).
        embedding_lr_mult: lr multiplier for embedding tables (sparse gradients learn slowly).
        grad_clip: max global grad norm (``None`` disables).
        max_epochs / patience / min_delta: early stopping on validation NDCG@10; ``patience``
            counts evaluations without improvement (see ``eval_every``).
        max_train_minutes: stop after this much training + validation wall time.
        lr_plateau_factor / lr_plateau_patience: multiply every lr by this factor after
            ``lr_plateau_patience`` evaluations without improvement (``None`` disables).
        loss: ``"full"`` softmax over the catalog or ``"sampled"`` softmax.
        n_negatives / negative_sampling / logq_correction: sampled-softmax settings.
        loss_chunk_size: positions per logits chunk for the full softmax.
        seed / deterministic: reproducibility (python, numpy, torch seeds).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...; amp: bf16/fp16 autocast on CUDA only.
        num_threads: CPU threads (capped at ``os.cpu_count()``). On a shared CPU also set
            ``OMP_WAIT_POLICY=PASSIVE`` before importing torch.
        eval_batch_size / eval_every: validation batching and frequency (epochs).
        dynamic_padding / bucket_by_length: pad each batch only to its longest sequence and
            group similar lengths (large savings on short-history data).
        progress: tqdm bars.
    """

    max_len: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    embedding_lr_mult: float = 5.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0
    max_epochs: int = 30
    patience: int = 3
    min_delta: float = 0.0
    max_train_minutes: float | None = None
    lr_plateau_factor: float | None = 0.3
    lr_plateau_patience: int = 1
    loss: Literal["full", "sampled"] = "full"
    n_negatives: int = 256
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    logq_correction: bool = True
    loss_chunk_size: int = 256
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"
    amp: bool = True
    num_threads: int = 2
    eval_batch_size: int = 512
    eval_every: int = 1
    dynamic_padding: bool = True
    bucket_by_length: bool = True
    progress: bool = True

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON reports."""
        return asdict(self)


@dataclass
class EpochLog:
    """What happened in one epoch."""

    epoch: int
    train_loss: float
    train_seconds: float
    eval_seconds: float
    valid: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """Outcome of :func:`fit`; the model already holds ``best_state_dict`` when returned."""

    best_epoch: int
    best_valid: dict[str, float]
    epochs: list[EpochLog]
    time_to_best_s: float
    total_time_s: float
    stopped_early: bool
    device: str
    amp_dtype: str | None
    best_state_dict: dict[str, torch.Tensor] = field(repr=False, default_factory=dict)

    @property
    def epoch_times_s(self) -> list[float]:
        """Wall time per epoch (training + validation)."""
        return [e.train_seconds + e.eval_seconds for e in self.epochs]

    def summary(self) -> dict[str, object]:
        """JSON-friendly view without the weights."""
        return {
            "best_epoch": self.best_epoch,
            "best_valid": self.best_valid,
            "epochs_run": len(self.epochs),
            "epoch_times_s": self.epoch_times_s,
            "train_seconds_per_epoch": [e.train_seconds for e in self.epochs],
            "time_to_best_s": self.time_to_best_s,
            "total_time_s": self.total_time_s,
            "stopped_early": self.stopped_early,
            "device": self.device,
            "amp_dtype": self.amp_dtype,
            "history": [asdict(e) for e in self.epochs],
        }


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; optionally request deterministic torch kernels.

    Deterministic mode uses ``warn_only`` so an op without a deterministic kernel warns
    instead of failing (CUDA also needs ``CUBLAS_WORKSPACE_CONFIG``, set here if absent).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def select_device(preference: str = "auto", *, num_threads: int = 2) -> torch.device:
    """Pick CUDA when available (or as requested), else CPU with a bounded thread count."""
    if preference == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(preference)
    if device.type == "cpu":
        torch.set_num_threads(max(1, min(os.cpu_count() or 1, num_threads)))
    return device


def _amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 where supported, else fp16; only on CUDA (CPU runs in fp32)."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


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
        n = hidden.shape[0]
        lse = torch.empty(n, dtype=hidden.dtype, device=hidden.device)
        buf = torch.empty(
            min(chunk_size, n), weight.shape[0], dtype=hidden.dtype, device=hidden.device
        )
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            logits = buf[: stop - start]
            torch.mm(hidden[start:stop], weight.T, out=logits)
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
        n, chunk_size = hidden.shape[0], ctx.chunk_size
        scale = grad_out / n
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        buf = torch.empty(
            min(chunk_size, n), weight.shape[0], dtype=hidden.dtype, device=hidden.device
        )
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            grad_logits = buf[: stop - start]
            torch.mm(hidden[start:stop], weight.T, out=grad_logits)
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


class _NegativeSampler:
    """Draws shared negatives uniformly or by training popularity."""

    def __init__(
        self,
        config: TrainConfig,
        n_items: int,
        train_sequences: Sequence[Sequence[int]],
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        self.k = config.n_negatives
        self.n_items = n_items
        self.generator = generator
        self.device = device
        if config.negative_sampling == "popularity":
            counts = np.bincount(
                np.fromiter((i for s in train_sequences for i in s[1:]), dtype=np.int64),
                minlength=n_items + 1,
            )[: n_items + 1].astype(np.float64)
            counts[PAD_ID] = 0.0
            counts[1:] += 1.0  # every item can be drawn
            self.probs: torch.Tensor | None = torch.tensor(counts / counts.sum())
        elif config.negative_sampling == "uniform":
            self.probs = None
        else:
            raise ValueError(f"unknown negative_sampling {config.negative_sampling!r}")
        self.log_q: torch.Tensor | None = None
        if config.logq_correction:
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


def _param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, object]]:
    """AdamW groups: embedding tables (own lr multiplier), other matrices (decayed), the rest.

    Embedding rows get sparse gradients (an item only appears in a few batches per epoch), so
    they learn far slower than dense weights at the same Adam step size; a larger embedding
    lr is the cheapest fix. Biases and LayerNorm gains are not decayed.
    """
    embedding_ids = {
        id(m.weight)
        for m in model.modules()
        if isinstance(m, nn.Embedding) and m.weight.requires_grad
    }
    params = [p for p in model.parameters() if p.requires_grad]
    embeddings = [p for p in params if id(p) in embedding_ids]
    matrices = [p for p in params if id(p) not in embedding_ids and p.dim() >= 2]
    others = [p for p in params if id(p) not in embedding_ids and p.dim() < 2]
    groups: list[dict[str, object]] = [
        {
            "params": embeddings,
            "lr": config.lr * config.embedding_lr_mult,
            "weight_decay": config.weight_decay,
        },
        {"params": matrices, "weight_decay": config.weight_decay},
        {"params": others, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, using the fused kernel when this torch build/device has one (less per-step cost)."""
    try:
        return torch.optim.AdamW(
            _param_groups(model, config), lr=config.lr, betas=config.betas, fused=True
        )
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(_param_groups(model, config), lr=config.lr, betas=config.betas)


def _batch_loss(
    model: nn.Module,
    batch: SequenceBatch,
    config: TrainConfig,
    sampler: _NegativeSampler | None,
) -> torch.Tensor:
    hidden = model(batch.item_ids, batch.type_ids)  # [B, L, D]
    mask = batch.target_ids != PAD_ID  # [B, L]
    h = hidden[mask]  # [N, D] - logits only where there is a target
    targets = batch.target_ids[mask]
    if config.loss == "full":
        return full_softmax_loss(h, model.item_weight, targets, chunk_size=config.loss_chunk_size)
    if sampler is None:
        raise ValueError("sampled loss needs a negative sampler")
    return sampled_softmax_loss(h, model.item_weight, targets, sampler.sample(), sampler.log_q)


def fit(
    model: nn.Module,
    train_sequences: Sequence[Sequence[int]],
    valid_inputs: Sequence[Sequence[int]] | None,
    valid_targets: Sequence[int] | None,
    config: TrainConfig,
    *,
    train_types: Sequence[Sequence[int]] | None = None,
    valid_types: Sequence[Sequence[int]] | None = None,
) -> TrainResult:
    """Train ``model`` with early stopping on validation NDCG@10 and restore the best weights.

    Args:
        model: e.g. :class:`predictors.models.SASRec` (moved to the selected device).
        train_sequences: per-user training prefixes (inputs ``seq[:-1]``, targets ``seq[1:]``).
        valid_inputs / valid_targets: validation histories and their next items; ``None``
            trains for exactly ``max_epochs`` and keeps the final weights (e.g. refitting on
            train + validation with an epoch count chosen earlier).
        config: hyperparameters.
        train_types / valid_types: aligned event-type ids for multi-behavior models.

    Returns:
        :class:`TrainResult` with per-epoch logs and timings.
    """
    seed_everything(config.seed, deterministic=config.deterministic)
    device = select_device(config.device, num_threads=config.num_threads)
    amp_dtype = _amp_dtype(device, config.amp)
    model.to(device)
    n_items = model.item_weight.shape[0] - 1

    dataset = NextItemDataset(train_sequences, config.max_len, train_types)
    if len(dataset) == 0:
        raise ValueError("no training sequence has 2 or more items")
    generator = torch.Generator().manual_seed(config.seed)
    collate = NextItemCollator(config.max_len, dynamic_padding=config.dynamic_padding)
    if config.bucket_by_length:
        batch_sampler = LengthBucketSampler(
            dataset.lengths(), config.batch_size, generator=generator
        )
        loader = DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate)
    else:
        loader = DataLoader(
            dataset,
            batch_size=config.batch_size,
            shuffle=True,
            generator=generator,
            collate_fn=collate,
        )
    sampler = (
        _NegativeSampler(config, n_items, train_sequences, device, generator)
        if config.loss == "sampled"
        else None
    )
    optimizer = _make_optimizer(model, config)
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=config.lr_plateau_factor,
            patience=config.lr_plateau_patience - 1,
            threshold=config.min_delta,
            threshold_mode="abs",
        )
        if config.lr_plateau_factor
        else None
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    autocast = (
        (lambda: torch.autocast(device_type="cuda", dtype=amp_dtype))
        if amp_dtype is not None
        else nullcontext
    )
    logger.info(
        "training on %s (amp=%s, threads=%d): %d sequences, %d items, %d params",
        device,
        amp_dtype,
        torch.get_num_threads(),
        len(dataset),
        n_items,
        sum(p.numel() for p in model.parameters()),
    )

    epochs: list[EpochLog] = []
    best_ndcg, best_epoch, best_valid = -1.0, 0, {}
    best_state: dict[str, torch.Tensor] = {}
    time_to_best, elapsed, bad_epochs, stopped_early = 0.0, 0.0, 0, False
    epoch_bar = tqdm(
        range(1, config.max_epochs + 1), desc="epochs", disable=not config.progress, leave=False
    )
    for epoch in epoch_bar:
        model.train()
        t0 = time.perf_counter()
        loss_sum, n_batches = torch.zeros((), device=device), 0
        for batch in tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not config.progress):
            batch = batch.to(device)
            with autocast():
                loss = _batch_loss(model, batch, config, sampler)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.detach().float()  # no per-step host sync on CUDA
            n_batches += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        valid: dict[str, float] = {}
        validate = valid_inputs is not None and valid_targets is not None
        if validate and (epoch % config.eval_every == 0 or epoch == config.max_epochs):
            valid = evaluate(
                model,
                valid_inputs,
                valid_targets,
                max_len=config.max_len,
                type_inputs=valid_types,
                batch_size=config.eval_batch_size,
            )
        eval_s = time.perf_counter() - t1
        elapsed += train_s + eval_s
        log = EpochLog(epoch, float(loss_sum) / max(n_batches, 1), train_s, eval_s, valid)
        epochs.append(log)
        logger.info(
            "epoch %d loss %.4f valid NDCG@10 %.4f HR@10 %.4f (train %.1fs, eval %.1fs)",
            epoch,
            log.train_loss,
            valid.get("NDCG@10", float("nan")),
            valid.get("HR@10", float("nan")),
            train_s,
            eval_s,
        )
        if valid:
            ndcg = valid["NDCG@10"]
            if plateau is not None:
                plateau.step(ndcg)
            epoch_bar.set_postfix(loss=f"{log.train_loss:.3f}", ndcg10=f"{ndcg:.4f}")
            if ndcg > best_ndcg + config.min_delta:
                best_ndcg, best_epoch, best_valid = ndcg, epoch, dict(valid)
                best_state = copy.deepcopy(
                    {k: v.detach().cpu() for k, v in model.state_dict().items()}
                )
                time_to_best, bad_epochs = elapsed, 0
            else:
                bad_epochs += 1
                if bad_epochs >= config.patience:
                    logger.info("early stop at epoch %d (best epoch %d)", epoch, best_epoch)
                    stopped_early = True
                    break
        if config.max_train_minutes is not None and elapsed > 60.0 * config.max_train_minutes:
            logger.info(
                "time budget of %.1f min reached at epoch %d", config.max_train_minutes, epoch
            )
            break
    epoch_bar.close()

    if best_state:
        model.load_state_dict(best_state)
    else:  # no validation: the final weights are the result
        best_epoch, time_to_best = len(epochs), elapsed
    return TrainResult(
        best_epoch=best_epoch,
        best_valid=best_valid,
        epochs=epochs,
        time_to_best_s=time_to_best,
        total_time_s=elapsed,
        stopped_early=stopped_early,
        device=str(device),
        amp_dtype=None if amp_dtype is None else str(amp_dtype).removeprefix("torch."),
        best_state_dict=best_state,
    )
