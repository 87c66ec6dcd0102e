"""Per-source statistics of a workspace, computed by DuckDB over the Parquet views."""

from __future__ import annotations

from typing import Any

from store.workspace import Workspace

_EVENTS_SQL = """
WITH per_user AS (
    SELECT source, user_id, count(*) AS n FROM events GROUP BY source, user_id
)
SELECT e.source,
       count(*) AS events,
       count(DISTINCT e.user_id) AS users,
       count(DISTINCT e.item_id) AS items,
       strftime(timezone('UTC', min(e.ts)), '%Y-%m-%dT%H:%M:%SZ') AS first_ts,
       strftime(timezone('UTC', max(e.ts)), '%Y-%m-%dT%H:%M:%SZ') AS last_ts,
       (SELECT avg(n) FROM per_user p WHERE p.source = e.source) AS mean_events_per_user,
       (SELECT median(n) FROM per_user p WHERE p.source = e.source) AS median_events_per_user,
       count(DISTINCT e.session_id) AS sessions
FROM events e GROUP BY e.source
"""


def workspace_stats(ws: Workspace) -> dict[str, Any]:
    """Users, items, events by type, reviews, time range and events per user, per source."""
    con = ws.connect()
    try:
        out: dict[str, Any] = {}
        for name, meta in sorted(ws.sources.items()):
            files = meta.get("files", [])
            out[name] = {
                "kind": meta["kind"],
                "files": [f["path"] for f in files],
                "untimed": bool(meta.get("untimed")),
                "raw_rows": sum(f.get("raw_rows", 0) for f in files),
                "duplicates_dropped": sum(f.get("duplicates_dropped", 0) for f in files),
                "exact_duplicate_rows": sum(f.get("exact_duplicate_rows", 0) for f in files),
                "events": 0,
                "users": 0,
                "items": 0,
                "events_by_type": {},
                "reviews": 0,
                "catalog_items": 0,
                "time_range": None,
                "mean_events_per_user": None,
                "median_events_per_user": None,
                "sessions": 0,
            }
        columns = ["source", "events", "users", "items", "first_ts", "last_ts",
                   "mean_events_per_user", "median_events_per_user", "sessions"]
        for row in con.execute(_EVENTS_SQL).fetchall():
            record = dict(zip(columns, row, strict=True))
            entry = out.setdefault(record["source"], {})
            entry.update(
                events=record["events"],
                users=record["users"],
                items=record["items"],
                sessions=record["sessions"],
                mean_events_per_user=round(float(record["mean_events_per_user"]), 4),
                median_events_per_user=float(record["median_events_per_user"]),
            )
            if record["first_ts"] is not None and not entry.get("untimed"):
                entry["time_range"] = {"first": record["first_ts"], "last": record["last_ts"]}
        for source, event_type, n in con.execute(
            "SELECT source, event_type, count(*) FROM events GROUP BY ALL ORDER BY ALL"
        ).fetchall():
            out[source]["events_by_type"][event_type] = n
        for table, key in (("reviews", "reviews"), ("items", "catalog_items")):
            counts = con.execute(f"SELECT source, count(*) FROM {table} GROUP BY ALL").fetchall()
            for source, n in counts:
                out[source][key] = n
        return out
    finally:
        con.close()
