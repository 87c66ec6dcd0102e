"""`insight index --engine ray`: embedding as a Ray Data pipeline, upserts from the driver.

The driver does what the in-process indexer does (builds the documents, compares content
hashes, deletes what left the workspace); only the embedding moves: each window of new or
changed texts becomes a Ray dataset whose batches a pool of actors, each holding the
sentence-transformers model (a GPU each when the cluster has GPUs), turn into vectors. The
vectors come back in order and the driver upserts them, so the on-disk Chroma store (one
process at a time) and a Chroma server (`retrieval.chroma` host set) both work unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.ray_cluster import ActorPlan, ordered_data, plan_actors
from core.settings import RetrievalSettings
from retrieval.embedder import create_embedder
from retrieval.factory import create_indexer
from retrieval.indexer import Indexer

log = logging.getLogger(__name__)

WINDOW = 20_000
"""Texts per Ray dataset: bounds the driver's memory; each window restarts the actor pool."""


class EmbedActor:
    """A Ray Data actor holding the configured embedder (loaded once, on a GPU if given one)."""

    def __init__(self, settings: RetrievalSettings) -> None:
        import torch

        device = "cuda" if torch.cuda.is_available() else settings.device
        self.embedder = create_embedder(settings.model_copy(update={"device": device}))

    def __call__(self, batch: pd.DataFrame) -> dict[str, np.ndarray]:
        """Vectors of the batch's `text` column, as a `vector` column beside its `row`."""
        vectors = self.embedder.embed(batch["text"].tolist())
        return {"row": batch["row"].to_numpy(), "vector": vectors}


@dataclass(eq=False, repr=False)
class RayIndexer(Indexer):
    """An `Indexer` whose embedding runs in Ray actors; everything else is the in-process one."""

    settings: RetrievalSettings | None = None
    plan: ActorPlan | None = None
    window: int = WINDOW

    def _window(self) -> int:
        return self.window

    def _embed(self, texts: list[str]) -> np.ndarray:
        import ray.data

        if self.settings is None or self.plan is None:
            raise ValueError("RayIndexer needs settings and an actor plan; use "
                             "create_ray_indexer")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        plan = self.plan
        table = pa.table({"row": np.arange(len(texts)), "text": texts})
        blocks = max(1, min(len(texts) // max(1, self.settings.embed_batch_size),
                            plan.workers * 4))
        step = -(-len(texts) // blocks)
        parts_in = [table.slice(start, step) for start in range(0, len(texts), step)]
        with ordered_data(False):
            dataset = ray.data.from_arrow(parts_in).map_batches(
                EmbedActor, fn_constructor_kwargs={"settings": self.settings},
                batch_size=self.settings.embed_batch_size, batch_format="pandas",
                **plan.map_batches_args())
            parts = list(dataset.iter_batches(batch_size=None, batch_format="numpy"))
        rows = np.concatenate([p["row"] for p in parts])
        vectors = np.concatenate([p["vector"] for p in parts]).astype(np.float32)
        if not np.array_equal(np.sort(rows), np.arange(len(texts))):
            raise RuntimeError(f"ray embedding returned {len(rows)} vectors for {len(texts)} "
                               "texts")
        out = np.empty_like(vectors)
        out[rows] = vectors
        return out


def create_ray_indexer(settings: RetrievalSettings, workspace: Path, *, progress: bool = True,
                       mask_pii: bool = True, workers: int | None = None,
                       **kwargs: Any) -> RayIndexer:
    """The configured indexer with Ray embedding; needs `ray.init` done (`ray_session`).

    The driver's embedder is built but never loaded: it only names the model in the content
    hashes, so both engines agree on what is unchanged.
    """
    base = create_indexer(settings, workspace, progress=progress, mask_pii=mask_pii, **kwargs)
    plan = plan_actors(workers)
    log.info("ray indexing: %d actor(s), %g GPU each", plan.workers, plan.num_gpus)
    return RayIndexer(base.store, base.embedder, base.lock_path, batch_size=base.batch_size,
                      progress=progress, mask_pii=mask_pii, settings=settings, plan=plan)
