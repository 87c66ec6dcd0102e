"""SASRec-style causal transformer for next-item prediction (pre-LN, tied item embeddings).

Shapes: ``B`` batch, ``L`` sequence width (<= ``max_len``), ``D`` model width,
``H`` heads, ``V = n_items + 1`` (row 0 of the item table is padding).

Inputs are LEFT-padded with 0, so the last position is the most recent event. Positions are
anchored at the right edge (the most recent event always gets position ``max_len - 1``), which
makes the output independent of how much left padding a batch carries.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from predictors.sequences import PAD_ID


@dataclass(frozen=True)
class SASRecConfig:
    """Architecture hyperparameters.

    Attributes:
        n_items: number of real items (ids ``1..n_items``).
        max_len: longest input the model accepts (learned positional table size).
        d_model: hidden width ``D``.
        n_heads: attention heads ``H`` (must divide ``D``).
        n_layers: transformer blocks.
        ff_mult: feed-forward width is ``ff_mult * D``.
        dropout: dropout on embeddings, residual branches and feed-forward.
        attn_dropout: dropout on attention weights (defaults to ``dropout``).
        n_types: number of event types for multi-behavior input (0 disables the type embedding;
            type ids are ``1..n_types``, 0 is padding).
    """

    n_items: int
    max_len: int = 50
    d_model: int = 64
    n_heads: int = 1
    n_layers: int = 2
    ff_mult: int = 4
    dropout: float = 0.2
    attn_dropout: float | None = None
    n_types: int = 0

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON reports and checkpoints."""
        return asdict(self)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with a caller-supplied boolean mask."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.attn_dropout = attn_dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Attend.

        Args:
            x: ``[B, L, D]``.
            allowed: ``[B, 1, L, L]`` bool, True where query ``i`` may attend to key ``j``.

        Returns:
            ``[B, L, D]``.
        """
        b, length, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        # [B, L, D] -> [B, H, L, D/H]
        q, k, v = (
            t.view(b, length, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v)
        )
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.attn_dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(b, length, d)
        return self.resid_dropout(self.proj(y))


class FeedForward(nn.Module):
    """Position-wise MLP: ``D -> ff_mult*D -> D`` with GELU."""

    def __init__(self, d_model: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, ff_mult * d_model)
        self.proj = nn.Linear(ff_mult * d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, D] -> [B, L, D]``."""
        return self.dropout(self.proj(self.dropout(F.gelu(self.fc(x)))))


class Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        attn_dropout = cfg.dropout if cfg.attn_dropout is None else cfg.attn_dropout
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg.d_model, cfg.n_heads, attn_dropout, cfg.dropout)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = FeedForward(cfg.d_model, cfg.ff_mult, cfg.dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``[B, L, D] -> [B, L, D]``."""
        x = x + self.attn(self.ln_1(x), allowed)
        return x + self.mlp(self.ln_2(x))


def attention_mask(item_ids: torch.Tensor) -> torch.Tensor:
    """Causal + key-padding mask.

    Query ``i`` may attend to key ``j`` iff ``j <= i`` and ``j`` is a real item. Every position
    may also attend to itself, so fully padded rows get a defined (and later discarded) output
    instead of NaNs; real positions never see padding because padding only occurs to the left.

    Args:
        item_ids: ``[B, L]`` left-padded ids.

    Returns:
        ``[B, 1, L, L]`` bool.
    """
    length = item_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=item_ids.device).tril()
    eye = torch.eye(length, dtype=torch.bool, device=item_ids.device)
    key_valid = (item_ids != PAD_ID)[:, None, :]  # [B, 1, L]
    return (causal & (key_valid | eye))[:, None, :, :]


class SASRec(nn.Module):
    """Causal transformer over item (and optional event-type) sequences.

    Score of item ``j`` for a user = ``<h_last, E[j]>`` with ``E`` the (tied) item embedding.
    """

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = nn.Embedding(cfg.n_items + 1, cfg.d_model, padding_idx=PAD_ID)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.type_emb = (
            nn.Embedding(cfg.n_types + 1, cfg.d_model, padding_idx=PAD_ID) if cfg.n_types else None
        )
        self.emb_dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.apply(self._init_weights)
        # GPT-2 style: scale residual output projections by depth.
        for name, param in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    @property
    def item_weight(self) -> torch.Tensor:
        """Output item table ``[V, D]`` (tied with the input embedding; row 0 = padding)."""
        return self.item_emb.weight

    def forward(self, item_ids: torch.Tensor, type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Contextual hidden state at every position.

        Args:
            item_ids: ``[B, L]`` left-padded item ids, ``L <= max_len``.
            type_ids: ``[B, L]`` event-type ids aligned with ``item_ids`` or ``None``.

        Returns:
            ``[B, L, D]``; padded positions are zero.
        """
        _, length = item_ids.shape
        if length > self.cfg.max_len:
            raise ValueError(f"sequence width {length} exceeds max_len={self.cfg.max_len}")
        valid = (item_ids != PAD_ID).unsqueeze(-1)  # [B, L, 1]
        positions = torch.arange(
            self.cfg.max_len - length, self.cfg.max_len, device=item_ids.device
        )  # right-anchored: most recent event -> max_len - 1
        x = self.item_emb(item_ids) + self.pos_emb(positions)[None, :, :]
        if self.type_emb is not None and type_ids is not None:
            x = x + self.type_emb(type_ids)
        x = self.emb_dropout(x) * valid
        allowed = attention_mask(item_ids)
        for block in self.blocks:
            x = block(x, allowed)
        return self.ln_f(x) * valid

    def user_embedding(
        self, item_ids: torch.Tensor, type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Hidden state at the last (most recent) position: ``[B, L] -> [B, D]``."""
        return self.forward(item_ids, type_ids)[:, -1, :]

    def score_all(
        self, item_ids: torch.Tensor, type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits over the whole catalog: ``[B, L] -> [B, V]``; column 0 (padding) is ``-inf``."""
        logits = self.user_embedding(item_ids, type_ids) @ self.item_weight.T
        logits[:, PAD_ID] = float("-inf")
        return logits

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
