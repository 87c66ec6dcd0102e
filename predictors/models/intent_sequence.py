"""A sequence-aware purchase-intent model: a small transformer over a user's recent events.

The hand-feature intent model (:mod:`predictors.models.intent`) sees counts and recencies
computed by SQL. This one reads the events themselves, in order: each of the user's last
``max_len`` events before the cut-off is a token made of its behaviour type (view, cart,
favourite, purchase, …), how long before the cut-off it happened (a log-scale bucket), its
position from the end, and — when the question is about one candidate item — whether the
event touched that item or that item's category. A learned summary token attends over them
and a linear head gives the logit of "buys (this item / anything) within the horizon".

Item ids are deliberately not embedded: on the sparse logs intent is asked about (Taobao's
prefix touches 55k items for 814 users) almost every item is seen a handful of times, so
their embeddings would not train; the same-item / same-category flags carry what the
funnel features carry, in order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class IntentSequenceConfig:
    """Architecture of :class:`IntentSequenceModel`.

    Attributes:
        n_types: event-type vocabulary size including padding id 0.
        n_gap_buckets: number of log-scale "time before the cut-off" buckets.
        max_len: events per user read (the most recent ones).
        d_model / n_heads / n_layers / ff_mult / dropout: transformer encoder size.
    """

    n_types: int
    n_gap_buckets: int = 16
    max_len: int = 64
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    ff_mult: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


class IntentSequenceModel(nn.Module):
    """Transformer encoder over event tokens with a learned summary token.

    Inputs (B rows, L = max_len, left-padded: the most recent event is the last column):
        types [B, L] long: event type id, 0 = padding.
        gaps [B, L] long: time-before-cut-off bucket in ``[0, n_gap_buckets)``.
        same_item [B, L] long: 1 when the event touched the row's candidate item, else 0.
        same_category [B, L] long: 1 when it touched the candidate's category, else 0.
    Output: logits [B] of the purchase label.
    """

    def __init__(self, config: IntentSequenceConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.type_emb = nn.Embedding(config.n_types, d, padding_idx=0)
        self.gap_emb = nn.Embedding(config.n_gap_buckets, d)
        self.item_flag_emb = nn.Embedding(2, d)
        self.category_flag_emb = nn.Embedding(2, d)
        self.pos_emb = nn.Embedding(config.max_len, d)  # position from the end
        self.summary = nn.Parameter(torch.zeros(1, 1, d))
        layer = nn.TransformerEncoderLayer(
            d, config.n_heads, config.ff_mult * d, config.dropout, batch_first=True,
            norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 1)
        nn.init.normal_(self.summary, std=0.02)

    def forward(self, types: torch.Tensor, gaps: torch.Tensor, same_item: torch.Tensor,
                same_category: torch.Tensor) -> torch.Tensor:
        """Logits [B] for event-token tensors [B, L] (see the class docstring)."""
        B, L = types.shape
        positions = torch.arange(L - 1, -1, -1, device=types.device).clamp(
            max=self.config.max_len - 1)
        x = (self.type_emb(types) + self.gap_emb(gaps) + self.item_flag_emb(same_item)
             + self.category_flag_emb(same_category) + self.pos_emb(positions)[None])  # [B,L,D]
        x = torch.cat([self.summary.expand(B, 1, -1), x], dim=1)  # [B, 1+L, D]
        pad = torch.cat([torch.zeros(B, 1, dtype=torch.bool, device=types.device),
                         types == 0], dim=1)  # [B, 1+L]
        h = self.encoder(x, src_key_padding_mask=pad)  # [B, 1+L, D]
        return self.head(self.norm(h[:, 0])).squeeze(-1)  # [B]
