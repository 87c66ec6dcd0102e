"""Training loop for next-item sequence models, kept apart from the model (RecBole-style).

Objective: cross-entropy of the next item at every non-padding position, over the full
catalog (``loss="full"``) or against shared sampled negatives (``loss="sampled"``); the losses
live in :mod:`predictors.training.losses`. Validation NDCG@10 (full ranking) drives early
stopping; the best weights are restored into the model at the end.

The model must expose ``forward(item_ids, type_ids) -> [B, L, D]``, an ``item_weight`` table
``[V, D]`` (row 0 padding) and ``score_all`` (see :class:`predictors.models.SASRec`).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
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
from predictors.training.losses import NegativeSampler, full_softmax_loss, sampled_softmax_loss
from predictors.training.runtime import autocast_dtype, seed_everything, select_device

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
        filter_history: validation ranks only items outside each user's history (the
            recipe's repeat rule, ``predictors.training.recipe``).
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
    filter_history: bool = False
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
    sampler: NegativeSampler | None,
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


def _make_loader(
    dataset: NextItemDataset, config: TrainConfig, generator: torch.Generator
) -> DataLoader:
    """Shuffled training batches, grouped by length when ``bucket_by_length`` is set."""
    collate = NextItemCollator(config.max_len, dynamic_padding=config.dynamic_padding)
    if config.bucket_by_length:
        batch_sampler = LengthBucketSampler(
            dataset.lengths(), config.batch_size, generator=generator
        )
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=collate,
    )


def _make_plateau(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    """The lr-on-plateau schedule on validation NDCG@10 (None when disabled)."""
    if not config.lr_plateau_factor:
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="max",
        factor=config.lr_plateau_factor,
        patience=config.lr_plateau_patience - 1,
        threshold=config.min_delta,
        threshold_mode="abs",
    )


def _train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    autocast: Callable[[], AbstractContextManager[Any]],
    sampler: NegativeSampler | None,
    config: TrainConfig,
    desc: str,
) -> float:
    """One pass over the training batches; returns the mean batch loss."""
    device = next(model.parameters()).device
    model.train()
    loss_sum, n_batches = torch.zeros((), device=device), 0
    for batch in tqdm(loader, desc=desc, leave=False, disable=not config.progress):
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
    return float(loss_sum) / max(n_batches, 1)


@dataclass
class _BestSoFar:
    """Early-stopping record: the best validation NDCG@10 so far, its epoch, metrics and weights,
    and how many evaluations since it improved."""

    min_delta: float
    ndcg: float = -1.0
    epoch: int = 0
    valid: dict[str, float] = field(default_factory=dict)
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    time_to_best: float = 0.0
    bad_epochs: int = 0

    def update(self, model: nn.Module, epoch: int, valid: dict[str, float],
               elapsed: float) -> None:
        """Record one evaluation; keep a CPU copy of the weights when it is the new best."""
        ndcg = valid["NDCG@10"]
        if ndcg > self.ndcg + self.min_delta:
            self.ndcg, self.epoch, self.valid = ndcg, epoch, dict(valid)
            self.state = copy.deepcopy(
                {k: v.detach().cpu() for k, v in model.state_dict().items()}
            )
            self.time_to_best, self.bad_epochs = elapsed, 0
        else:
            self.bad_epochs += 1


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
    amp_dtype = autocast_dtype(device, config.amp)
    model.to(device)
    n_items = model.item_weight.shape[0] - 1

    dataset = NextItemDataset(train_sequences, config.max_len, train_types)
    if len(dataset) == 0:
        raise ValueError("no training sequence has 2 or more items")
    generator = torch.Generator().manual_seed(config.seed)
    loader = _make_loader(dataset, config, generator)
    sampler = (
        NegativeSampler(config.n_negatives, config.negative_sampling, config.logq_correction,
                        n_items, train_sequences, device, generator)
        if config.loss == "sampled"
        else None
    )
    optimizer = _make_optimizer(model, config)
    plateau = _make_plateau(optimizer, config)
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
    best = _BestSoFar(config.min_delta)
    elapsed, stopped_early = 0.0, False
    validate = valid_inputs is not None and valid_targets is not None
    epoch_bar = tqdm(
        range(1, config.max_epochs + 1), desc="epochs", disable=not config.progress, leave=False
    )
    for epoch in epoch_bar:
        t0 = time.perf_counter()
        train_loss = _train_epoch(model, loader, optimizer, scaler, autocast, sampler, config,
                                  f"epoch {epoch}")
        train_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        valid: dict[str, float] = {}
        if validate and (epoch % config.eval_every == 0 or epoch == config.max_epochs):
            valid = evaluate(
                model,
                valid_inputs,
                valid_targets,
                max_len=config.max_len,
                type_inputs=valid_types,
                batch_size=config.eval_batch_size,
                filter_history=config.filter_history,
            )
        eval_s = time.perf_counter() - t1
        elapsed += train_s + eval_s
        log = EpochLog(epoch, train_loss, train_s, eval_s, valid)
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
            best.update(model, epoch, valid, elapsed)
            if best.bad_epochs >= config.patience:
                logger.info("early stop at epoch %d (best epoch %d)", epoch, best.epoch)
                stopped_early = True
                break
        if config.max_train_minutes is not None and elapsed > 60.0 * config.max_train_minutes:
            logger.info(
                "time budget of %.1f min reached at epoch %d", config.max_train_minutes, epoch
            )
            break
    epoch_bar.close()

    if best.state:
        model.load_state_dict(best.state)
    else:  # no validation: the final weights are the result
        best.epoch, best.time_to_best = len(epochs), elapsed
    return TrainResult(
        best_epoch=best.epoch,
        best_valid=best.valid,
        epochs=epochs,
        time_to_best_s=best.time_to_best,
        total_time_s=elapsed,
        stopped_early=stopped_early,
        device=str(device),
        amp_dtype=None if amp_dtype is None else str(amp_dtype).removeprefix("torch."),
        best_state_dict=best.state,
    )
