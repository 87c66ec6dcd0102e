"""Next-item recommendation over a workspace source: train, evaluate, load, recommend.

Glue between the workspace (per-user event sequences), the SASRec model, the trainer and the
evaluation harness. Event types feed the model's behavior embedding when the source has more
than one type (e.g. Taobao view / cart / fav / purchase).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import InputError
from predictors.evaluation.evaluator import evaluate
from predictors.evaluation.splits import leave_one_out_split
from predictors.models import ItemTransition, MostPopular, SASRec, SASRecConfig
from predictors.sequences import IdVocab, batch_width, left_pad
from predictors.training.runtime import select_device
from predictors.training.sequence_trainer import TrainConfig, fit
from store.checkpoints import (
    NEXT_ITEM,
    check_checkpoint_matches,
    load_checkpoint,
    save_checkpoint,
)
from store.readers import UserSequences, user_sequences
from store.schema import EVENT_TYPES
from store.workspace import Workspace

log = logging.getLogger(__name__)

TYPE_IDS = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}


@dataclass
class NextItemOptions:
    """Model and training parameters for `insight train` (defaults: the Beauty recipe)."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 1
    dropout: float = 0.5
    max_len: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 200
    patience: int = 10
    max_train_minutes: float | None = None
    seed: int = 0
    use_event_types: bool = True
    progress: bool = True

    def train_config(self) -> TrainConfig:
        """The trainer's view of these options."""
        return TrainConfig(
            max_len=self.max_len, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, max_epochs=self.max_epochs, patience=self.patience,
            max_train_minutes=self.max_train_minutes, seed=self.seed, progress=self.progress,
        )


@dataclass
class NextItemModel:
    """A trained model with its item vocabulary, ready to recommend."""

    model: SASRec
    items: IdVocab
    use_types: bool
    max_len: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """Checkpoint version string recorded with every score."""
        return str(self.meta.get("version", "unsaved"))

    def encode(self, sequences: UserSequences) -> tuple[list[list[int]], list[list[int]] | None]:
        """Histories as item ints (unknown items dropped) and aligned type ints."""
        inputs: list[list[int]] = []
        types: list[list[int]] = []
        for items, kinds in zip(sequences.items, sequences.event_types, strict=True):
            kept = [(self.items.id_to_index[i], TYPE_IDS[k]) for i, k in zip(items, kinds,
                                                                               strict=True)
                    if i in self.items.id_to_index]
            inputs.append([i for i, _ in kept])
            types.append([k for _, k in kept])
        return inputs, (types if self.use_types else None)

    @torch.inference_mode()
    def recommend(
        self,
        inputs: list[list[int]],
        types: list[list[int]] | None,
        k: int = 10,
        exclude_seen: bool = False,
    ) -> tuple[list[list[str]], list[list[float]], np.ndarray]:
        """Top-k item ids and softmax probabilities per history, plus user embeddings."""
        self.model.eval()
        device = next(self.model.parameters()).device
        width = batch_width(inputs, self.max_len)
        item_ids = left_pad(inputs, self.max_len, pad_to=width).to(device)
        type_ids = left_pad(types, self.max_len, pad_to=width).to(device) if types else None
        hidden = self.model.user_embedding(item_ids, type_ids)
        logits = hidden @ self.model.item_weight.T
        logits[:, 0] = float("-inf")
        empty = torch.as_tensor([len(h) == 0 for h in inputs], device=device)
        if exclude_seen:
            for row, history in enumerate(inputs):
                if history:
                    logits[row, torch.as_tensor(history, device=device)] = float("-inf")
        probs = torch.softmax(logits, dim=1)
        top = torch.topk(probs, min(k, probs.shape[1] - 1), dim=1)
        ids: list[list[str]] = []
        scores: list[list[float]] = []
        for row in range(len(inputs)):
            if bool(empty[row]):
                ids.append([])
                scores.append([])
                continue
            ids.append(self.items.decode(top.indices[row].tolist()))
            scores.append([round(float(s), 6) for s in top.values[row].tolist()])
        return ids, scores, hidden.float().cpu().numpy()


def _encode_all(sequences: UserSequences, use_types: bool
                ) -> tuple[IdVocab, list[list[int]], list[list[int]] | None]:
    vocab = IdVocab.from_sequences(sequences.items)
    encoded = [vocab.encode(items) for items in sequences.items]
    types = ([[TYPE_IDS[k] for k in kinds] for kinds in sequences.event_types]
             if use_types else None)
    return vocab, encoded, types


def train_next_item(ws: Workspace, source: str, options: NextItemOptions) -> NextItemModel:
    """Train on leave-one-out splits of `source`, evaluate, and save a checkpoint."""
    con = ws.connect()
    try:
        sequences = user_sequences(con, source)
    finally:
        con.close()
    if len(sequences) == 0:
        raise InputError(f"source '{source}' has no events to train on")
    distinct_types = {k for kinds in sequences.event_types for k in kinds}
    use_types = options.use_event_types and len(distinct_types) > 1
    vocab, encoded, types = _encode_all(sequences, use_types)
    split = leave_one_out_split(encoded, types)
    if len(split.valid) == 0:
        raise InputError(f"source '{source}': no user has 3 or more events; cannot train")
    model_cfg = SASRecConfig(
        n_items=len(vocab), max_len=options.max_len, d_model=options.d_model,
        n_heads=options.n_heads, n_layers=options.n_layers, dropout=options.dropout,
        n_types=len(EVENT_TYPES) if use_types else 0,
    )
    model = SASRec(model_cfg)
    train_cfg = options.train_config()
    log.info("training next-item model on %s: %d users, %d items, types=%s", source,
             len(encoded), len(vocab), use_types)
    result = fit(model, split.train, split.valid.inputs, split.valid.targets, train_cfg,
                 train_types=split.train_types, valid_types=split.valid.type_inputs)
    metrics = evaluate_split(model, vocab, split, options.max_len, len(vocab))
    wrapped = NextItemModel(model=model, items=vocab, use_types=use_types,
                            max_len=options.max_len)

    def write(directory: Path) -> None:
        torch.save(model.state_dict(), directory / "model.pt")
        (directory / "items.json").write_text(json.dumps(vocab.to_dict()))

    meta = {
        "model_config": model_cfg.to_dict(),
        "options": asdict(options),
        "use_types": use_types,
        "training": {k: v for k, v in result.summary().items() if k != "history"},
        "metrics": metrics,
        "users": len(encoded),
        "items": len(vocab),
    }
    version = save_checkpoint(ws, source, NEXT_ITEM, write, meta)
    wrapped.meta = {**meta, "version": version}
    return wrapped


def evaluate_split(model: SASRec, vocab: IdVocab, split: Any, max_len: int,
                   n_items: int) -> dict[str, dict[str, float]]:
    """Test metrics (full ranking) of the model beside the popularity and transition baselines."""
    out: dict[str, dict[str, float]] = {}
    scorers: dict[str, Any] = {
        "sasrec": model,
        "most_popular": MostPopular(n_items).fit(split.train),
        "item_transition": ItemTransition(n_items).fit(split.train),
    }
    for name, scorer in scorers.items():
        types = split.test.type_inputs if name == "sasrec" else None
        out[name] = evaluate(scorer, split.test.inputs, split.test.targets, max_len=max_len,
                             type_inputs=types)
    return out


def load_next_item(
    ws: Workspace, source: str, checkpoint: Path | None = None, device: str = "auto"
) -> NextItemModel:
    """The current (or a given) checkpoint of `source`, checked against the workspace data."""
    if checkpoint is None:
        path, meta = load_checkpoint(ws, source, NEXT_ITEM)
    else:
        path = Path(checkpoint)
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise InputError(f"{path}: not a checkpoint directory (no meta.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("kind") != NEXT_ITEM:
            raise InputError(f"{path}: a {meta.get('kind')} checkpoint, not {NEXT_ITEM}")
        check_checkpoint_matches(ws, source, meta)
    vocab = IdVocab.from_dict(json.loads((path / "items.json").read_text()))
    model = SASRec(SASRecConfig(**meta["model_config"]))
    state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.to(select_device(device))
    model.eval()
    return NextItemModel(model=model, items=vocab, use_types=bool(meta["use_types"]),
                         max_len=int(meta["model_config"]["max_len"]), meta=meta)


def evaluate_next_item(ws: Workspace, source: str, checkpoint: Path | None = None
                       ) -> dict[str, dict[str, float]]:
    """Re-run the leave-one-out test evaluation of a saved model on the current data."""
    loaded = load_next_item(ws, source, checkpoint)
    con = ws.connect()
    try:
        sequences = user_sequences(con, source)
    finally:
        con.close()
    encoded = [loaded.items.encode(items, skip_unknown=True) for items in sequences.items]
    types = ([[TYPE_IDS[k] for k, i in zip(kinds, items, strict=True)
               if i in loaded.items.id_to_index]
              for kinds, items in zip(sequences.event_types, sequences.items, strict=True)]
             if loaded.use_types else None)
    split = leave_one_out_split(encoded, types)
    return evaluate_split(loaded.model, loaded.items, split, loaded.max_len, len(loaded.items))


def quick_options(**overrides: Any) -> NextItemOptions:
    """Small, fast settings for demos and CI (minutes on a laptop CPU)."""
    return replace(NextItemOptions(d_model=32, max_epochs=8, patience=3, batch_size=128),
                   **overrides)
