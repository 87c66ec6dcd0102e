"""Point-in-time feature builders (DuckDB SQL over the workspace `events` view).

Every builder takes a cut-off and reads only events strictly before it, so features computed
at cut-off ``t`` never depend on what happened at or after ``t``; labels are built by separate
queries over ``[t, t + horizon)``. Cut-offs, horizons and sources are bound as query
parameters, never formatted into SQL text.

This module holds the small helpers the builders share: time conversion and the checks that
turn a bad request (unknown source, untimed source, cut-off outside the data) into an
:class:`~core.errors.InputError` that names the problem.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pandas as pd

from core.errors import InputError

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR

TimeLike = dt.datetime | dt.date | str | pd.Timestamp | int
"""A point in time: datetime (naive = UTC), ISO string, pandas Timestamp, or epoch microseconds."""

DurationLike = dt.timedelta | str | pd.Timedelta | int
"""A duration: timedelta, pandas-style string ("1D", "180 days", "30min") or microseconds."""


def to_epoch_us(value: TimeLike) -> int:
    """Epoch microseconds (UTC) of a point in time; naive values are read as UTC."""
    if isinstance(value, bool):
        raise InputError(f"not a point in time: {value!r}")
    if isinstance(value, int):
        return value
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot read {value!r} as a point in time: {exc}") from exc
    if ts is pd.NaT:
        raise InputError(f"cannot read {value!r} as a point in time")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1000)


def to_duration_us(value: DurationLike) -> int:
    """Microseconds of a duration; must be positive."""
    if isinstance(value, bool):
        raise InputError(f"not a duration: {value!r}")
    if isinstance(value, int):
        us = value
    else:
        try:
            us = int(pd.Timedelta(value).value // 1000)
        except (ValueError, TypeError) as exc:
            raise InputError(f"cannot read {value!r} as a duration: {exc}") from exc
    if us <= 0:
        raise InputError(f"duration must be positive, got {value!r}")
    return us


def from_epoch_us(us: int) -> pd.Timestamp:
    """A UTC pandas Timestamp from epoch microseconds (for reports and logs)."""
    return pd.Timestamp(int(us) * 1000, tz="UTC")


def iso(us: int) -> str:
    """ISO-8601 UTC text of an epoch-microsecond time."""
    return from_epoch_us(us).isoformat()


@dataclass(frozen=True)
class SourceSpan:
    """What a source holds: event counts and the range of its timestamps (epoch µs)."""

    source: str
    n_events: int
    n_timed: int
    min_us: int | None
    max_us: int | None
    event_types: tuple[str, ...]


_SPAN_SQL = """
SELECT count(*) AS n_events,
       count(ts) AS n_timed,
       min(epoch_us(ts)) AS min_us,
       max(epoch_us(ts)) AS max_us,
       list(DISTINCT event_type ORDER BY event_type) AS event_types
FROM events
WHERE source = $source
"""


def source_span(con: duckdb.DuckDBPyConnection, source: str) -> SourceSpan:
    """Counts and time range of `source`; InputError when the source has no events."""
    rows = con.execute(_SPAN_SQL, {"source": source}).fetchall()
    row = rows[0] if rows else None
    n_events = int(row[0]) if row else 0
    if n_events == 0:
        known = [r[0] for r in con.execute(
            "SELECT DISTINCT source FROM events ORDER BY 1").fetchall()]
        if not known:
            raise InputError("the workspace has no events; ingest a behavior log first")
        raise InputError(f"source {source!r} has no events; known sources: {known}")
    return SourceSpan(
        source=source,
        n_events=n_events,
        n_timed=int(row[1]),
        min_us=None if row[2] is None else int(row[2]),
        max_us=None if row[3] is None else int(row[3]),
        event_types=tuple(row[4] or ()),
    )


def require_timed(span: SourceSpan, purpose: str) -> tuple[int, int]:
    """The (min, max) timestamps of a source; InputError when it has none."""
    if span.n_timed == 0 or span.min_us is None or span.max_us is None:
        raise InputError(
            f"source {span.source!r} has no timestamps (ts is NULL for all {span.n_events} "
            f"events); {purpose} needs timed events"
        )
    return span.min_us, span.max_us


def check_cutoff(
    span: SourceSpan,
    cutoff_us: int,
    purpose: str,
    horizon_us: int | None = None,
    max_uncovered: float = 0.05,
) -> None:
    """Reject a cut-off outside the source's data, or a label window the data cannot cover.

    The cut-off must lie strictly after the first timestamp and no later than just after the
    last one (``last + 1 µs``, i.e. "as of the end of the log"). With
    `horizon_us` (labels are needed), at most `max_uncovered` of the label window may extend
    past the last event; otherwise the labels would be silently truncated.
    """
    lo, hi = require_timed(span, purpose)
    if not lo < cutoff_us <= hi + 1:
        raise InputError(
            f"cut-off {iso(cutoff_us)} is outside the data range of source {span.source!r} "
            f"({iso(lo)} .. {iso(hi)}); {purpose} needs history before the cut-off"
        )
    if horizon_us is not None:
        uncovered = cutoff_us + horizon_us - hi
        if uncovered > max_uncovered * horizon_us:
            raise InputError(
                f"label window {iso(cutoff_us)} + {pd.Timedelta(microseconds=horizon_us)} "
                f"ends after the last event of source {span.source!r} ({iso(hi)}); "
                f"choose an earlier cut-off or a shorter horizon"
            )


def query_df(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> pd.DataFrame:
    """Run a parameterized query and return all rows as a DataFrame (via Arrow: one copy,
    and no deprecated pandas calls in the conversion)."""
    return con.sql(sql, params=params).to_arrow_table().to_pandas()


def user_bucket_params(n_buckets: int, bucket: int) -> dict[str, Any]:
    """Query parameters selecting one hash bucket of users (n_buckets=1 selects everyone)."""
    if n_buckets < 1 or not 0 <= bucket < n_buckets:
        raise InputError(f"bad user bucket {bucket} of {n_buckets}")
    return {"n_buckets": int(n_buckets), "bucket": int(bucket)}


USER_BUCKET_SQL = "($n_buckets = 1 OR hash(user_id) % $n_buckets = $bucket)"
"""SQL predicate over `user_id` bound by :func:`user_bucket_params`."""

EARLIEST_US = -(2**62)
"""Epoch µs before any real event: the start of an "all history" window."""


def window_start(cutoff_us: int, length: DurationLike | None) -> int:
    """Start (epoch µs) of the window of `length` that ends at the cut-off; None = all history."""
    return EARLIEST_US if length is None else cutoff_us - to_duration_us(length)


def as_float_features(df: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Ids as strings, every feature as float64 (NULL -> NaN) so models see one dtype."""
    out = df.copy()
    for col in out.columns:
        if col in keys:
            out[col] = out[col].astype("string").astype(object)
        else:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


class WindowConfig(Protocol):
    """Feature settings that turn a cut-off into query parameters (windows, eligibility)."""

    def params(self, cutoff_us: int) -> dict[str, Any]:
        """Query parameters for a cut-off (epoch µs), the cut-off itself included."""
        ...


@dataclass(frozen=True)
class FeatureQuery:
    """A point-in-time feature builder: `sql` over the events before a cut-off, one row per
    distinct `keys`; ids come back as strings, every feature as float64.

    Call it as ``query(con, source, cutoff, config=None, n_buckets=1, bucket=0)``: `config`
    (default: ``default_config()``) sets the windows; `n_buckets` / `bucket` select one hash
    bucket of users, to process users in bounded memory.
    """

    sql: str = field(repr=False)
    keys: tuple[str, ...]
    default_config: Callable[[], WindowConfig]

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        source: str,
        cutoff: TimeLike,
        config: WindowConfig | None = None,
        n_buckets: int = 1,
        bucket: int = 0,
    ) -> pd.DataFrame:
        """Feature rows of `source` as of `cutoff` (events strictly before it)."""
        window = (config or self.default_config()).params(to_epoch_us(cutoff))
        params = {"source": source, **window, **user_bucket_params(n_buckets, bucket)}
        return as_float_features(query_df(con, self.sql, params), self.keys)


def feature_columns(df: pd.DataFrame, keys: tuple[str, ...]) -> list[str]:
    """The feature column names of a feature frame (everything but the id columns)."""
    return [c for c in df.columns if c not in keys]
