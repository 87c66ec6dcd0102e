"""Write the `user_scores` table: every user's top-k next items, intent, churn and segment.

Users stream out of DuckDB in record batches (bounded memory on the Python side), each batch
is scored and appended to a Parquet file, and the result replaces the source's partition of
`user_scores` atomically through the workspace manifest. The Ray engine
(`predictors.ray_scoring`) runs the same `BatchScorer` in actors and the same `publish_scores`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from core.errors import InputError
from predictors.next_item import NextItemModel
from store.readers import UserSequences
from store.workspace import Workspace

log = logging.getLogger(__name__)

TABLE = "user_scores"
SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("top_items", pa.list_(pa.string())),
        pa.field("top_scores", pa.list_(pa.float32())),
        pa.field("intent_p_any", pa.float64()),
        pa.field("intent_items", pa.list_(pa.string())),
        pa.field("intent_scores", pa.list_(pa.float32())),
        pa.field("churn_risk", pa.float64()),
        pa.field("segment", pa.int32()),
        pa.field("n_events", pa.int64()),
        pa.field("last_ts", pa.timestamp("us", tz="UTC")),
        pa.field("model_version", pa.string()),
        pa.field("scored_at", pa.timestamp("us", tz="UTC")),
    ]
)
EXTRA_COLUMNS = ("intent_p_any", "intent_items", "intent_scores", "churn_risk", "segment")

_SEQUENCES_SQL = """
SELECT user_id,
       list(item_id ORDER BY ts NULLS FIRST, ordinal) AS items,
       list(event_type ORDER BY ts NULLS FIRST, ordinal) AS kinds,
       count(*) AS n_events,
       max(ts) AS last_ts
FROM events WHERE source = ?
GROUP BY user_id ORDER BY user_id
"""


@dataclass
class ScoreReport:
    """What `score_users` wrote."""

    source: str
    users: int
    seconds: float
    users_per_second: float
    model_version: str


BatchProducer = Callable[[duckdb.DuckDBPyConnection, int], Iterator[pa.Table]]
"""Yields scored tables from a workspace connection and the number of users to score."""


@dataclass
class BatchScorer:
    """Scores one batch of user histories into `user_scores` rows: the per-batch work that the
    in-process engine and the Ray engine's actors (`predictors.ray_scoring`) share.

    Batches are Arrow record batches or tables with the columns of `_SEQUENCES_SQL`.
    """

    source: str
    next_item: NextItemModel | None
    extras: pd.DataFrame | None
    k: int
    version: str
    scored_at: dt.datetime

    def __call__(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        """The `user_scores` rows (in `SCHEMA`) of the users in `batch`, in their order."""
        return _score_batch(batch, self.source, self.next_item, self.extras, self.k,
                            self.version, self.scored_at)


def scores_version(next_item: NextItemModel | None, extras: pd.DataFrame | None) -> str:
    """The `model_version` recorded with every score: the versions of the models used."""
    versions = [next_item.version] if next_item is not None else []
    if extras is not None and "model_version" in extras.attrs:
        versions.append(str(extras.attrs["model_version"]))
    return "+".join(versions) or "none"


def sequence_batches(con: duckdb.DuckDBPyConnection, source: str,
                     batch_size: int) -> Iterator[pa.RecordBatch]:
    """Every user's ordered history of `source`, `batch_size` users at a time, by user id."""
    yield from con.sql(_SEQUENCES_SQL, params=[source]).to_arrow_reader(batch_size)


def score_users(
    ws: Workspace,
    source: str,
    next_item: NextItemModel | None,
    extras: pd.DataFrame | None = None,
    k: int = 10,
    batch_size: int = 1024,
    progress: bool | None = None,
) -> ScoreReport:
    """Score every user of `source` in this process and publish its `user_scores` partition.

    `extras` is indexed by user_id with any of the columns in `EXTRA_COLUMNS`.
    """
    scorer = BatchScorer(source, next_item, extras, k, scores_version(next_item, extras),
                         dt.datetime.now(dt.UTC))
    return publish_scores(
        ws, scorer, lambda con, _total: map(scorer, sequence_batches(con, source, batch_size)),
        progress)


def publish_scores(ws: Workspace, scorer: BatchScorer, produce: BatchProducer,
                   progress: bool | None = None) -> ScoreReport:
    """Write the tables that `produce(con, users)` yields as the source's `user_scores` partition.

    The one writer of both engines: under the workspace lock, the batches stream into one
    staged Parquet file that replaces the partition atomically, so readers see the old scores
    or the new ones, never a mix.
    """
    source, version = scorer.source, scorer.version
    started = time.perf_counter()
    con = ws.connect()
    with ws.lock(), ws.stage() as batch:
        try:
            total = con.execute(
                "SELECT count(DISTINCT user_id) FROM events WHERE source = ?", [source]
            ).fetchall()[0][0]
            if total == 0:
                raise InputError(f"source '{source}' has no users to score")
            name = "user_scores-00000.parquet"
            batch.files[TABLE] = [name]
            written = 0
            with pq.ParquetWriter(batch.staging_dir / name, SCHEMA, compression="zstd") as out, \
                    tqdm(total=total, desc=f"score {source}", unit=" users",
                         disable=None if progress is None else not progress) as bar:
                for table in produce(con, total):
                    out.write_table(table)
                    written += table.num_rows
                    bar.update(table.num_rows)
            meta = {"users": written, "model_version": version,
                    "scored_at": scorer.scored_at.isoformat(timespec="seconds")}
            ws.publish_derived(TABLE, batch, meta, partition=source)
        finally:
            con.close()
    seconds = time.perf_counter() - started
    log.info("scored %d users of %s in %.1fs", written, source, seconds)
    return ScoreReport(source=source, users=written, seconds=seconds,
                       users_per_second=written / seconds if seconds else 0.0,
                       model_version=version)


def _score_batch(
    record_batch: pa.RecordBatch | pa.Table,
    source: str,
    next_item: NextItemModel | None,
    extras: pd.DataFrame | None,
    k: int,
    version: str,
    scored_at: dt.datetime,
) -> pa.Table:
    users = record_batch.column("user_id").to_pylist()
    n = len(users)
    columns: dict[str, Any] = {
        "source": [source] * n,
        "user_id": users,
        "n_events": record_batch.column("n_events"),
        "last_ts": record_batch.column("last_ts").cast(pa.timestamp("us", tz="UTC")),
        "model_version": [version] * n,
        "scored_at": pa.repeat(pa.scalar(scored_at, pa.timestamp("us", tz="UTC")), n),
    }
    if next_item is not None:
        sequences = UserSequences(
            source=source, user_ids=users,
            items=record_batch.column("items").to_pylist(),
            event_types=record_batch.column("kinds").to_pylist(),
        )
        inputs, types = next_item.encode(sequences)
        top_items, top_scores, _ = next_item.recommend(inputs, types, k=k)
        columns["top_items"] = top_items
        columns["top_scores"] = top_scores
    if extras is not None:
        part = extras.reindex(users)
        for column in EXTRA_COLUMNS:
            if column in part.columns:
                values = part[column].tolist()
                columns[column] = [None if _missing(v) else v for v in values]
    arrays = []
    for field in SCHEMA:
        value = columns.get(field.name)
        arrays.append(pa.nulls(n, field.type) if value is None else pa.array(value, field.type)
                      if not isinstance(value, pa.Array | pa.ChunkedArray)
                      else value.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
