"""`insight score --engine ray`: batch scoring as a Ray Data pipeline over the workspace Parquet.

The driver stages every user's ordered history (the in-process engine's query, in DuckDB) as
Parquet shards in the workspace; Ray Data reads them (`read_parquet`) and maps batches through
a pool of actors, each holding the next-item checkpoint loaded once (a GPU per actor when the
cluster has GPUs). The actors run the in-process engine's `BatchScorer`, and the driver writes
what they return through the same `publish_scores`, so both engines publish identical
`user_scores` partitions. Intent, churn and segment columns come from whole-source models;
they are computed once on the driver, as in-process, and handed to the actors.

On a multi-node cluster the workspace must be on storage every node mounts at the same path
(see docs/scale-out.md): the shards and the checkpoints are read there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.ray_cluster import ActorPlan, ordered_data, plan_actors
from predictors.next_item import NextItemModel, load_next_item
from predictors.score_users import (
    SCHEMA,
    BatchScorer,
    ScoreReport,
    publish_scores,
    scores_version,
    sequence_batches,
)
from store.checkpoints import NEXT_ITEM, model_dir
from store.workspace import Workspace

log = logging.getLogger(__name__)

SHARDS_PER_WORKER = 4
"""Histories shards per actor: enough blocks that no actor idles while another finishes."""


class ScoreActor:
    """A Ray Data actor: loads the next-item checkpoint once, then scores batches with it."""

    def __init__(self, template: BatchScorer, root: str, checkpoint: str | None,
                 threads: int = 1) -> None:
        import torch

        model = None
        if checkpoint is not None:
            model = load_next_item(Workspace.open(Path(root)), template.source, Path(checkpoint))
        if model is not None and model.version not in template.version.split("+"):
            raise RuntimeError(f"actor loaded next-item {model.version}, the driver scores with "
                               f"{template.version}")
        if model is None or next(model.model.parameters()).device.type == "cpu":
            torch.set_num_threads(threads)
        self.scorer = dataclasses.replace(template, next_item=model)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """The `user_scores` rows of one batch of histories."""
        return self.scorer(batch)


def score_users_ray(
    ws: Workspace,
    source: str,
    next_item: NextItemModel | None,
    extras: pd.DataFrame | None = None,
    checkpoint: Path | None = None,
    k: int = 10,
    batch_size: int = 1024,
    workers: int | None = None,
    progress: bool | None = None,
) -> ScoreReport:
    """Score every user of `source` on the connected Ray cluster; publish like `score_users`.

    `next_item` is the driver's copy of the model (its version is recorded with the scores);
    the actors load the same checkpoint directory themselves. Needs `ray.init` done (see
    `core.ray_cluster.ray_session`).
    """
    import datetime as dt

    plan = plan_actors(workers)
    template = BatchScorer(source, None, extras, k, scores_version(next_item, extras),
                           dt.datetime.now(dt.UTC))
    directory = None
    if next_item is not None:
        directory = str(checkpoint or model_dir(ws, source, NEXT_ITEM) / next_item.version)
    log.info("ray scoring of %s: %d actor(s), %g GPU each", source, plan.workers,
             plan.num_gpus)

    def produce(con: duckdb.DuckDBPyConnection, total: int) -> Iterator[pa.Table]:
        with ws.stage() as shards:
            files = stage_histories(con, source, shards.staging_dir, total, batch_size,
                                    plan.workers)
            yield from _run(files, template, str(ws.root), directory, plan, batch_size,
                            bool(progress))

    return publish_scores(ws, template, produce, progress)


def stage_histories(con: duckdb.DuckDBPyConnection, source: str, directory: Path, total: int,
                    batch_size: int, workers: int) -> list[Path]:
    """Write the users' ordered histories as Parquet shards (whole batches, user-id order)."""
    batches_per_shard = max(1, math.ceil(total / batch_size / (workers * SHARDS_PER_WORKER)))
    files: list[Path] = []
    pending: list[pa.RecordBatch] = []
    for batch in sequence_batches(con, source, batch_size):
        pending.append(batch)
        if len(pending) == batches_per_shard:
            files.append(_write_shard(directory, len(files), pending))
            pending = []
    if pending:
        files.append(_write_shard(directory, len(files), pending))
    return files


def _write_shard(directory: Path, number: int, batches: list[pa.RecordBatch]) -> Path:
    path = directory / f"histories-{number:05d}.parquet"
    pq.write_table(pa.Table.from_batches(batches), path)
    return path


def _run(files: list[Path], template: BatchScorer, root: str, checkpoint: str | None,
         plan: ActorPlan, batch_size: int, progress: bool) -> Iterator[pa.Table]:
    import ray.data

    if not files:
        return
    with ordered_data(progress):
        dataset = ray.data.read_parquet(
            [str(f) for f in files], override_num_blocks=len(files)).map_batches(
            ScoreActor,
            fn_constructor_kwargs={"template": template, "root": root,
                                   "checkpoint": checkpoint, "threads": 1},
            batch_size=batch_size, batch_format="pyarrow", **plan.map_batches_args())
        for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield table.cast(SCHEMA)
