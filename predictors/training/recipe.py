"""The one next-item recipe: what `insight train` ships and what the Beauty benchmark measures.

`NextItemOptions` holds every architecture and training setting with its default; both
`predictors.next_item.train_next_item` and `benchmarks/beauty_sasrec.py` turn it into the
model's and the trainer's configs through the same two methods, so a number in the benchmark
report is the number of the model a user trains.

Defaults (chosen on Amazon Beauty validation NDCG@10 on a shared 2-core CPU; test never used):
SASRec d=64, 2 pre-LN blocks, 1 head, dropout 0.3, max_len 50; AdamW lr 1e-3 with 5x lr on the
embedding tables, batch 32, lr x0.3 after a validation plateau, early stopping with patience 3,
at most 30 epochs / 15 minutes.

One setting follows a rule on data size instead of a fixed value, decided before any result
on another dataset: ``loss="auto"`` uses the exact full softmax when the catalog is small
(at most ``2 * n_negatives`` items, where sampling saves little) or on a GPU (where the full
softmax is cheap), and otherwise a sampled softmax with ``n_negatives`` popularity-drawn
negatives and logQ correction (on Beauty's 12,101 items it matched the full softmax on
validation at about a third of the CPU cost).

A second rule, on repeats, decides whether a user's own history is ranked at all
(``mask_seen="auto"``): when at most 1% of the training sequences' items repeat an item
earlier in the same sequence (reviews, 5-core Amazon data: nobody reviews a product twice),
the items a user already has are never recommended, and validation (early stopping), test
evaluation and serving all rank the rest of the catalog; on logs where people return to what
they viewed or bought (clickstreams) the history stays rankable. Without it SASRec spends its
top ranks on the items just seen (its output is close to the last input's embedding), which
no user of such data wants and which the transition baseline never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from predictors.models import SASRecConfig
from predictors.training.runtime import select_device
from predictors.training.sequence_trainer import TrainConfig

LOSSES = ("auto", "full", "sampled")
MASK_SEEN = ("auto", "on", "off")
REPEAT_SHARE_LIMIT = 0.01  # at most this share of repeats: the data has no repeat consumption


def repeat_share(sequences: Sequence[Sequence[int]]) -> float:
    """Share of items (after each sequence's first) already earlier in their own sequence."""
    repeats = positions = 0
    for seq in sequences:
        positions += max(len(seq) - 1, 0)
        repeats += max(len(seq) - 1, 0) - (len(set(seq)) - 1 if seq else 0)
    return repeats / positions if positions else 0.0


@dataclass
class NextItemOptions:
    """Model and training parameters of the next-item model (defaults: the module's recipe)."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 1
    ff_mult: int = 4
    dropout: float = 0.3
    attn_dropout: float | None = None
    max_len: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    embedding_lr_mult: float = 5.0
    weight_decay: float = 0.0
    max_epochs: int = 30
    patience: int = 3
    lr_plateau_factor: float | None = 0.3
    lr_plateau_patience: int = 1
    loss: str = "auto"
    n_negatives: int = 2048
    negative_sampling: str = "popularity"
    max_train_minutes: float | None = 15.0
    eval_every: int = 1
    device: str = "auto"
    num_threads: int = 2
    seed: int = 0
    use_event_types: bool = True
    mask_seen: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.mask_seen not in MASK_SEEN:
            raise ValueError(f"mask_seen must be one of {', '.join(MASK_SEEN)}, "
                             f"not {self.mask_seen!r}")

    def resolved_mask_seen(self, train_sequences: Sequence[Sequence[int]]) -> bool:
        """Whether a user's own items are left out of the ranking: the repeat rule of the
        module docstring for ``auto`` (decided on the training prefixes only)."""
        if self.mask_seen != "auto":
            return self.mask_seen == "on"
        return repeat_share(train_sequences) <= REPEAT_SHARE_LIMIT

    def resolved_loss(self, n_items: int | None) -> str:
        """``full`` or ``sampled``: the data-size rule of the module docstring for ``auto``
        (an unknown catalog size gets the exact full softmax)."""
        if self.loss != "auto":
            return self.loss
        on_gpu = select_device(self.device).type == "cuda"
        small = n_items is None or n_items <= 2 * self.n_negatives
        return "full" if on_gpu or small else "sampled"

    def model_config(self, n_items: int, n_types: int = 0) -> SASRecConfig:
        """The architecture for a catalog of `n_items` (and `n_types` event types, 0 = none)."""
        return SASRecConfig(
            n_items=n_items, max_len=self.max_len, d_model=self.d_model, n_heads=self.n_heads,
            n_layers=self.n_layers, ff_mult=self.ff_mult, dropout=self.dropout,
            attn_dropout=self.attn_dropout, n_types=n_types)

    def train_config(self, n_items: int | None = None,
                     train_sequences: Sequence[Sequence[int]] | None = None,
                     **overrides: Any) -> TrainConfig:
        """The trainer's settings for a catalog of `n_items`; with `train_sequences` the
        repeat rule decides whether validation masks the history (`overrides` replace
        fields)."""
        config = TrainConfig(
            max_len=self.max_len, batch_size=self.batch_size, lr=self.lr,
            embedding_lr_mult=self.embedding_lr_mult, weight_decay=self.weight_decay,
            max_epochs=self.max_epochs, patience=self.patience,
            max_train_minutes=self.max_train_minutes,
            lr_plateau_factor=self.lr_plateau_factor,
            lr_plateau_patience=self.lr_plateau_patience,
            loss=self.resolved_loss(n_items),  # type: ignore[arg-type]
            n_negatives=min(self.n_negatives, max(1, (n_items or self.n_negatives + 1) - 1)),
            negative_sampling=self.negative_sampling,  # type: ignore[arg-type]
            eval_every=self.eval_every, device=self.device, num_threads=self.num_threads,
            seed=self.seed, progress=self.progress,
            filter_history=(self.resolved_mask_seen(train_sequences)
                            if train_sequences is not None else False))
        return replace(config, **overrides)


def quick_options(**overrides: Any) -> NextItemOptions:
    """Small, fast settings for demos and CI (minutes on a laptop CPU): the recipe with a
    narrower model, bigger batches and fewer epochs."""
    return replace(NextItemOptions(d_model=32, max_epochs=8, patience=3, batch_size=128),
                   **overrides)
