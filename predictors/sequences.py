"""Turn per-user event histories into padded tensors for next-item models.

Conventions used across ``predictors``:

* item and event-type ids are contiguous ints starting at 1; ``0`` is padding (``PAD_ID``);
* sequences are ordered oldest -> newest and are LEFT-padded, so position ``-1`` always holds
  the most recent event;
* a training example for one user is ``inputs = seq[:-1]``, ``targets = seq[1:]`` over that
  user's training prefix (next-item prediction at every position).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset, Sampler

PAD_ID = 0


@dataclass
class IdVocab:
    """Bidirectional mapping between external ids (strings) and contiguous ints from 1.

    Index 0 is reserved for padding, so ``len(vocab)`` is the number of real ids and a table
    indexed by vocab ints needs ``len(vocab) + 1`` rows.
    """

    index_to_id: list[str] = field(default_factory=list)
    id_to_index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_sequences(cls, sequences: Iterable[Iterable[Hashable]]) -> IdVocab:
        """Build a vocab from id sequences, numbering ids in order of first appearance."""
        vocab = cls()
        for seq in sequences:
            for raw in seq:
                vocab.add(raw)
        return vocab

    def add(self, raw: Hashable) -> int:
        """Return the int for ``raw``, assigning the next free int if it is new."""
        key = str(raw)
        index = self.id_to_index.get(key)
        if index is None:
            self.index_to_id.append(key)
            index = len(self.index_to_id)
            self.id_to_index[key] = index
        return index

    def __len__(self) -> int:
        return len(self.index_to_id)

    def __contains__(self, raw: object) -> bool:
        return str(raw) in self.id_to_index

    def encode(self, ids: Iterable[Hashable], *, skip_unknown: bool = False) -> list[int]:
        """Map external ids to ints; unknown ids raise ``KeyError`` unless ``skip_unknown``."""
        out: list[int] = []
        for raw in ids:
            index = self.id_to_index.get(str(raw))
            if index is None:
                if skip_unknown:
                    continue
                raise KeyError(f"unknown id {raw!r}")
            out.append(index)
        return out

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Map ints back to external ids (padding index 0 is not allowed)."""
        out: list[str] = []
        for index in indices:
            index = int(index)
            if index <= PAD_ID or index > len(self.index_to_id):
                raise KeyError(f"index {index} is padding or out of range")
            out.append(self.index_to_id[index - 1])
        return out

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-serialisable form (ints are implied by list position + 1)."""
        return {"index_to_id": list(self.index_to_id)}

    @classmethod
    def from_dict(cls, data: dict[str, list[str]]) -> IdVocab:
        """Inverse of :meth:`to_dict`."""
        ids = [str(x) for x in data["index_to_id"]]
        return cls(index_to_id=ids, id_to_index={x: i + 1 for i, x in enumerate(ids)})


def left_pad(
    sequences: Sequence[Sequence[int]], max_len: int, *, pad_to: int | None = None
) -> torch.Tensor:
    """Left-pad (and left-truncate) int sequences into a LongTensor.

    Keeps the ``max_len`` most recent entries of each sequence. The width is ``pad_to`` if
    given, else ``max_len``; use ``pad_to=longest`` for dynamic padding inside a batch.

    Returns:
        LongTensor ``[B, W]`` with ``PAD_ID`` on the left.
    """
    width = max_len if pad_to is None else pad_to
    if width > max_len:
        raise ValueError(f"pad_to={pad_to} exceeds max_len={max_len}")
    out = torch.full((len(sequences), width), PAD_ID, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tail = list(seq)[-width:] if width > 0 else []
        if tail:
            out[row, width - len(tail) :] = torch.as_tensor(tail, dtype=torch.long)
    return out


def batch_width(sequences: Sequence[Sequence[int]], max_len: int) -> int:
    """Dynamic padding width: the longest sequence in the batch, capped at ``max_len``."""
    return max(1, min(max_len, max((len(s) for s in sequences), default=1)))


@dataclass
class SequenceBatch:
    """A training batch of shifted sequences.

    Attributes:
        item_ids: ``[B, L]`` input items (left-padded).
        target_ids: ``[B, L]`` next item at each position (``PAD_ID`` where no target).
        type_ids: ``[B, L]`` event type of each input position, or ``None``.
    """

    item_ids: torch.Tensor
    target_ids: torch.Tensor
    type_ids: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> SequenceBatch:
        """Move all tensors to ``device``."""
        return SequenceBatch(
            self.item_ids.to(device),
            self.target_ids.to(device),
            None if self.type_ids is None else self.type_ids.to(device),
        )


class NextItemDataset(Dataset):
    """One example per user: the user's training prefix, truncated to ``max_len + 1`` items.

    Sequences shorter than 2 items yield no (input, target) pair and are dropped.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        max_len: int,
        type_sequences: Sequence[Sequence[int]] | None = None,
    ) -> None:
        if type_sequences is not None and len(type_sequences) != len(sequences):
            raise ValueError("type_sequences must align with sequences")
        self.max_len = max_len
        self.items: list[list[int]] = []
        self.types: list[list[int]] | None = None if type_sequences is None else []
        for i, seq in enumerate(sequences):
            if len(seq) < 2:
                continue
            self.items.append(list(seq)[-(max_len + 1) :])
            if self.types is not None and type_sequences is not None:
                types = list(type_sequences[i])
                if len(types) != len(seq):
                    raise ValueError(f"type sequence {i} length differs from item sequence")
                self.types.append(types[-(max_len + 1) :])

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        """Number of (input, target) pairs per example, for length bucketing."""
        return [len(seq) - 1 for seq in self.items]

    def __getitem__(self, index: int) -> tuple[list[int], list[int] | None]:
        types = None if self.types is None else self.types[index]
        return self.items[index], types


class NextItemCollator:
    """Collate ``NextItemDataset`` examples into a :class:`SequenceBatch`.

    With ``dynamic_padding`` the batch is only as wide as its longest input, which saves
    attention compute on short-history data; the model anchors positions at the right edge,
    so this is equivalent to padding to ``max_len``.
    """

    def __init__(self, max_len: int, *, dynamic_padding: bool = True) -> None:
        self.max_len = max_len
        self.dynamic_padding = dynamic_padding

    def __call__(self, examples: Sequence[tuple[list[int], list[int] | None]]) -> SequenceBatch:
        inputs = [seq[:-1] for seq, _ in examples]
        targets = [seq[1:] for seq, _ in examples]
        width = batch_width(inputs, self.max_len) if self.dynamic_padding else self.max_len
        type_ids = None
        if examples and examples[0][1] is not None:
            type_inputs = [types[:-1] for _, types in examples if types is not None]
            type_ids = left_pad(type_inputs, self.max_len, pad_to=width)
        return SequenceBatch(
            item_ids=left_pad(inputs, self.max_len, pad_to=width),
            target_ids=left_pad(targets, self.max_len, pad_to=width),
            type_ids=type_ids,
        )


class LengthBucketSampler(Sampler[list[int]]):
    """Shuffled batches of similar-length sequences (a batch sampler).

    Indices are shuffled, cut into pools of ``batch_size * pool_batches``, each pool is sorted
    by length and cut into batches, and the batch order is shuffled again. With dynamic
    padding this removes most padded positions (and their attention / dropout cost) on
    short-history data while keeping batches random across epochs.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        pool_batches: int = 50,
    ) -> None:
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size = batch_size
        self.generator = generator
        self.pool = batch_size * pool_batches

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.lengths), generator=self.generator)
        batches: list[list[int]] = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            pool = pool[torch.argsort(self.lengths[pool], stable=True)]
            batches.extend(
                pool[i : i + self.batch_size].tolist() for i in range(0, len(pool), self.batch_size)
            )
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]
