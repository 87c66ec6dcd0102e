"""Next-item recommendation over a workspace source: train, evaluate, load, recommend.

Glue between the workspace (per-user event sequences), the SASRec model, the trainer and the
evaluation harness. Event types feed the model's behavior embedding when the source has more
than one type (e.g. Taobao view / cart / fav / purchase).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import InputError
from predictors.evaluation.evaluator import evaluate
from predictors.evaluation.metrics import mask_history
from predictors.evaluation.splits import LeaveOneOutSplit, leave_one_out_split
from predictors.models import ItemTransition, MostPopular, SASRec, SASRecConfig
from predictors.sequences import IdVocab, batch_width, left_pad
from predictors.training.recipe import REPEAT_SHARE_LIMIT, NextItemOptions, repeat_share
from predictors.training.recipe import quick_options as quick_options  # re-exported
from predictors.training.runtime import select_device
from predictors.training.sequence_trainer import fit
from store.checkpoints import (
    NEXT_ITEM,
    check_checkpoint_matches,
    data_extent,
    load_checkpoint,
    save_checkpoint,
)
from store.readers import UserSequences, user_sequences
from store.schema import EVENT_TYPES
from store.workspace import Workspace

log = logging.getLogger(__name__)

TYPE_IDS = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}


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

    @property
    def mask_seen(self) -> bool:
        """Whether a user's own items are left out of recommendations (the recipe's repeat
        rule, decided at training; older checkpoints rank everything)."""
        return bool(self.meta.get("mask_seen", False))

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
        exclude_seen: bool | None = None,
    ) -> tuple[list[list[str]], list[list[float]], np.ndarray]:
        """Top-k item ids and softmax probabilities per history, plus user embeddings.

        `exclude_seen` None follows the checkpoint's rule (`mask_seen`)."""
        if exclude_seen is None:
            exclude_seen = self.mask_seen
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
            mask_history(logits, inputs)
        probs = torch.softmax(logits, dim=1)
        top = torch.topk(probs, min(k, probs.shape[1] - 1), dim=1)
        ids: list[list[str]] = []
        scores: list[list[float]] = []
        for row in range(len(inputs)):
            if bool(empty[row]):
                ids.append([])
                scores.append([])
                continue
            finite = torch.isfinite(logits[row, top.indices[row]]).tolist()
            ranked = [(int(i), float(p)) for i, p, ok in zip(
                top.indices[row].tolist(), top.values[row].tolist(), finite, strict=True)
                      if ok]  # masked items and padding (-inf) are never ranked
            ids.append(self.items.decode([i for i, _ in ranked]))
            scores.append([round(p, 6) for _, p in ranked])
        return ids, scores, hidden.float().cpu().numpy()


def _encode_all(sequences: UserSequences, use_types: bool, base: IdVocab | None = None
                ) -> tuple[IdVocab, list[list[int]], list[list[int]] | None]:
    """Sequences as ints; with `base`, its ids keep their ints and new ids are appended."""
    vocab = IdVocab.from_dict(base.to_dict()) if base is not None else IdVocab()
    for items in sequences.items:
        for item in items:
            vocab.add(item)
    encoded = [vocab.encode(items) for items in sequences.items]
    types = ([[TYPE_IDS[k] for k in kinds] for kinds in sequences.event_types]
             if use_types else None)
    return vocab, encoded, types


def read_training_data(ws: Workspace, source: str) -> tuple[UserSequences, dict[str, Any]]:
    """Every user's sequence of `source` and its extent (recorded as `trained_on`).

    Shared by a full and a resumed training; InputError when the source has no events.
    """
    con = ws.connect()
    try:
        sequences = user_sequences(con, source)
        extent = data_extent(con, source)
    finally:
        con.close()
    if len(sequences) == 0:
        raise InputError(f"source '{source}' has no events to train on")
    return sequences, extent


def training_split(source: str, encoded: list[list[int]], types: list[list[int]] | None
                   ) -> LeaveOneOutSplit:
    """The leave-one-out split of encoded sequences; InputError when nobody can be validated."""
    split = leave_one_out_split(encoded, types)
    if len(split.valid) == 0:
        raise InputError(f"source '{source}': no user has 3 or more events; cannot train")
    return split


def train_next_item(ws: Workspace, source: str, options: NextItemOptions) -> NextItemModel:
    """Train on leave-one-out splits of `source`, evaluate, and save a checkpoint."""
    sequences, extent = read_training_data(ws, source)
    distinct_types = {k for kinds in sequences.event_types for k in kinds}
    use_types = options.use_event_types and len(distinct_types) > 1
    vocab, encoded, types = _encode_all(sequences, use_types)
    split = training_split(source, encoded, types)
    model_cfg = options.model_config(len(vocab), len(EVENT_TYPES) if use_types else 0)
    model = SASRec(model_cfg)
    train_cfg = options.train_config(len(vocab), split.train)
    log.info("training next-item model on %s: %d users, %d items, types=%s, history %s",
             source, len(encoded), len(vocab), use_types,
             "masked" if train_cfg.filter_history else "ranked")
    result = fit(model, split.train, split.valid.inputs, split.valid.targets, train_cfg,
                 train_types=split.train_types, valid_types=split.valid.type_inputs)
    metrics = evaluate_split(model, vocab, split, options.max_len, len(vocab),
                             mask_seen=train_cfg.filter_history)
    wrapped = NextItemModel(model=model, items=vocab, use_types=use_types,
                            max_len=options.max_len)
    meta = checkpoint_meta(wrapped, options, result, metrics, len(encoded), extent,
                           split.train, train_cfg.filter_history)
    return publish_next_item(ws, source, wrapped, meta)


def checkpoint_meta(wrapped: NextItemModel, options: NextItemOptions, result: Any,
                    metrics: dict[str, dict[str, float]], users: int,
                    extent: dict[str, Any], train: list[list[int]],
                    mask_seen: bool) -> dict[str, Any]:
    """The metadata of a next-item checkpoint (full or resumed training): config, options,
    training summary, test metrics, sizes, the data extent it was trained on and the repeat
    rule's verdict (`mask_seen`, with the training prefixes' `repeat_share`)."""
    return {
        "mask_seen": mask_seen,
        "repeat_share": round(repeat_share(train), 6),
        "model_config": wrapped.model.cfg.to_dict(),
        "options": asdict(options),
        "use_types": wrapped.use_types,
        "training": {k: v for k, v in result.summary().items() if k != "history"},
        "metrics": metrics,
        "users": users,
        "items": len(wrapped.items),
        "trained_on": extent,
    }


def publish_next_item(ws: Workspace, source: str, wrapped: NextItemModel,
                      meta: dict[str, Any]) -> NextItemModel:
    """Save weights, vocabulary and `meta` as a new current version; the model gets its meta.

    Shared by a full training and a resumed one (``predictors.training.resume``), so both
    publish the same checkpoint layout through the atomic pointer switch.
    """
    def write(directory: Path) -> None:
        torch.save(wrapped.model.state_dict(), directory / "model.pt")
        (directory / "items.json").write_text(json.dumps(wrapped.items.to_dict()))

    version = save_checkpoint(ws, source, NEXT_ITEM, write, meta)
    wrapped.meta = {**meta, "version": version}
    return wrapped


def evaluate_split(model: SASRec, vocab: IdVocab, split: Any, max_len: int,
                   n_items: int, mask_seen: bool = False) -> dict[str, dict[str, float]]:
    """Test metrics (full ranking) of the model beside the popularity and transition baselines,
    every scorer ranking the same items (without each user's history when `mask_seen`)."""
    out: dict[str, dict[str, float]] = {}
    scorers: dict[str, Any] = {
        "sasrec": model,
        "most_popular": MostPopular(n_items).fit(split.train),
        "item_transition": ItemTransition(n_items).fit(split.train),
    }
    for name, scorer in scorers.items():
        types = split.test.type_inputs if name == "sasrec" else None
        out[name] = evaluate(scorer, split.test.inputs, split.test.targets, max_len=max_len,
                             type_inputs=types, filter_history=mask_seen)
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
                       ) -> dict[str, Any]:
    """Re-run the leave-one-out test evaluation of a saved model on the current data.

    ``next_item``: every scorer under the checkpoint's protocol (history masked or not, the
    recipe's repeat rule); ``protocol`` says which, and ``next_item_other_protocol`` gives the
    same scorers the other way, side by side."""
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
    mask = loaded.mask_seen

    def run(masked: bool) -> dict[str, dict[str, float]]:
        return evaluate_split(loaded.model, loaded.items, split, loaded.max_len,
                              len(loaded.items), mask_seen=masked)

    return {NEXT_ITEM: run(mask), "protocol": {
                "history_masked": mask, "repeat_share": loaded.meta.get("repeat_share"),
                "rule": f"history masked when at most {REPEAT_SHARE_LIMIT:.0%} of training "
                        "items repeat an earlier item of the same user"},
            "next_item_other_protocol": run(not mask)}
