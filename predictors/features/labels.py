"""Labels of the supervised predictors: who did something in ``[cut-off, cut-off + horizon)``.

A :class:`LabelQuery` finds the positives (reading only the label window, never the feature
history); :func:`attach_labels` turns them into a 0/1 label per feature row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from predictors.features import (
    USER_BUCKET_SQL,
    DurationLike,
    TimeLike,
    query_df,
    to_duration_us,
    to_epoch_us,
    user_bucket_params,
)


@dataclass(frozen=True)
class LabelQuery:
    """Who has an event — of `event_type`, or of any type — in the label window
    ``[cutoff, cutoff + horizon)``: one row per distinct `keys`, as strings.

    Call it as ``query(con, source, cutoff, horizon, n_buckets=1, bucket=0)``; the query reads
    only the label window, never the feature history.
    """

    keys: tuple[str, ...]
    event_type: str | None = None

    @property
    def sql(self) -> str:
        """The query; binds ``$source``, ``$cutoff``, ``$horizon`` and the user bucket."""
        only = "" if self.event_type is None else f" AND event_type = '{self.event_type}'"
        return f"""
SELECT DISTINCT {", ".join(self.keys)}
FROM events
WHERE source = $source{only} AND ts IS NOT NULL
  AND epoch_us(ts) >= $cutoff AND epoch_us(ts) < $cutoff + $horizon
  AND {USER_BUCKET_SQL}
"""

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        source: str,
        cutoff: TimeLike,
        horizon: DurationLike,
        n_buckets: int = 1,
        bucket: int = 0,
    ) -> pd.DataFrame:
        """The positives of `source` in the label window of `cutoff`."""
        params = {"source": source, "cutoff": to_epoch_us(cutoff),
                  "horizon": to_duration_us(horizon), **user_bucket_params(n_buckets, bucket)}
        return query_df(con, self.sql, params).astype(dict.fromkeys(self.keys, str))


def attach_labels(
    features: pd.DataFrame, positives: pd.DataFrame, keys: tuple[str, ...]
) -> np.ndarray:
    """0/1 label per feature row: 1 when the row's keys appear in `positives`."""
    if features.empty:
        return np.zeros(0, dtype=np.int64)
    if positives.empty:
        return np.zeros(len(features), dtype=np.int64)
    pos = pd.MultiIndex.from_frame(positives[list(keys)].astype(str))
    idx = pd.MultiIndex.from_frame(features[list(keys)].astype(str))
    return idx.isin(pos).astype(np.int64)
