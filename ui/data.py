"""Read-only queries behind the views: users, timelines, score distributions, segments, models.

Every number the views show comes from here (SQL on the workspace or checkpoint metadata), never
from the LLM. Functions take a read-only DuckDB connection and return plain Python / pandas.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from store.checkpoints import NEXT_ITEM, SEGMENTS, current_models
from store.queries import table_exists
from store.workspace import Workspace

SEGMENT_METRICS = ("mean_recency_days", "mean_frequency", "mean_n_items", "buyers_share",
                   "mean_intent", "mean_churn", "mean_mean_rating")


def sources(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Source names with events, sorted."""
    return [r[0] for r in con.execute("SELECT DISTINCT source FROM events ORDER BY 1").fetchall()]


def active_users(con: duckdb.DuckDBPyConnection, n: int = 12) -> list[tuple[str, str, int]]:
    """(source, user id, events) of active, scored users to offer in the pickers."""
    if table_exists(con, "user_scores"):
        rows = con.execute(
            "SELECT source, user_id, n_events FROM (SELECT *, row_number() OVER (PARTITION BY "
            "source ORDER BY n_events DESC, user_id) AS k FROM user_scores) WHERE k <= ? "
            "ORDER BY source, n_events DESC", [max(1, n // 2)]).fetchall()
    else:
        rows = con.execute(
            "SELECT source, user_id, n_events FROM (SELECT *, row_number() OVER (PARTITION BY "
            "source ORDER BY n_events DESC, user_id) AS k FROM users) WHERE k <= 2 "
            "ORDER BY source, n_events DESC").fetchall()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def example_users(con: duckdb.DuckDBPyConnection, n: int = 12) -> list[tuple[str, str]]:
    """(label, "source/user") pairs with raw ids (views mask them per role: `ui.access`)."""
    return [(f"{user} · {source} ({events} events)", f"{source}/{user}")
            for source, user, events in active_users(con, n)]


def split_user_key(key: str) -> tuple[str | None, str]:
    """"source/user" → (source, user); a bare id → (None, id)."""
    source, sep, user = key.strip().partition("/")
    return (source, user) if sep and user else (None, key.strip())


def timeline(con: duckdb.DuckDBPyConnection, source: str, user_id: str) -> pd.DataFrame:
    """Events per day and type of one user (empty for untimed sources)."""
    return con.execute(
        "SELECT CAST(ts AS DATE) AS day, event_type, count(*) AS events FROM events WHERE "
        "source = ? AND user_id = ? AND ts IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
        [source, user_id]).df()


def segment_scores(con: duckdb.DuckDBPyConnection, source: str,
                   segment: int | None) -> pd.DataFrame:
    """Intent and churn scores of every user of one segment (or the whole source)."""
    if not table_exists(con, "user_scores"):
        return pd.DataFrame(columns=["user_id", "intent_p_any", "churn_risk"])
    return con.execute(
        "SELECT user_id, intent_p_any, churn_risk FROM user_scores WHERE source = ? AND "
        "(? IS NULL OR segment = ?)", [source, segment, segment]).df()


def user_reviews(con: duckdb.DuckDBPyConnection, source: str, user_id: str,
                 limit: int = 50) -> list[dict[str, Any]]:
    """A user's reviews, newest first, with the item title and the reviewer name."""
    rows = con.execute(
        "SELECT r.review_id, r.item_id, i.title, r.rating, CAST(r.ts AS DATE), r.summary, "
        "r.text, r.reviewer_name FROM reviews r LEFT JOIN items i ON i.source = r.source AND "
        "i.item_id = r.item_id WHERE r.source = ? AND r.user_id = ? ORDER BY r.ts DESC NULLS "
        "LAST LIMIT ?", [source, user_id, limit]).fetchall()
    keys = ("review_id", "item_id", "title", "rating", "date", "summary", "text",
            "reviewer_name")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def reviews_by_id(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Full reviews for citation ids (`R:…`), with the reviewer name."""
    if not ids:
        return {}
    rows = con.execute(
        "SELECT review_id, source, item_id, rating, CAST(ts AS DATE), summary, text, "
        "reviewer_name FROM reviews WHERE list_contains(?, review_id)", [ids]).fetchall()
    keys = ("review_id", "source", "item_id", "rating", "date", "summary", "text",
            "reviewer_name")
    return {r[0]: dict(zip(keys, r, strict=True)) for r in rows}


def popular_items(con: duckdb.DuckDBPyConnection, source: str, n: int = 15
                  ) -> list[tuple[str, str]]:
    """(label, item id) of the most active items of a source."""
    rows = con.execute(
        "SELECT e.item_id, any_value(i.title), count(*) AS n FROM events e LEFT JOIN items i ON "
        "i.source = e.source AND i.item_id = e.item_id WHERE e.source = ? GROUP BY 1 "
        "ORDER BY n DESC, 1 LIMIT ?", [source, n]).fetchall()
    return [(f"{r[0]} · {str(r[1])[:50]}" if r[1] else f"{r[0]} ({r[2]} events)", str(r[0]))
            for r in rows]


def _plain_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return ", ".join(str(v.get("value", v)) if isinstance(v, dict) else str(v)
                         for v in value[:3])
    return value


def segments_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per segment: source, number, size, metrics, and its LLM-written name when any."""
    if not table_exists(con, "segments"):
        return pd.DataFrame()
    frame = con.execute("SELECT * FROM segments ORDER BY source, segment").df()
    if table_exists(con, "segment_names"):
        names = con.execute("SELECT source, segment, name, description FROM segment_names").df()
        frame = frame.merge(names, on=["source", "segment"], how="left")
    else:
        frame["name"], frame["description"] = None, None
    frame["name"] = [n if isinstance(n, str) and n else f"Segment {s}"
                     for n, s in zip(frame["name"], frame["segment"], strict=True)]
    keep = ["source", "segment", "name", "n_users", "share_of_users",
            *[c for c in SEGMENT_METRICS if c in frame.columns], "top_categories", "top_items",
            "description"]
    frame = frame[[c for c in keep if c in frame.columns]].copy()
    for column in frame.columns:
        frame[column] = [_round(_plain_value(v)) for v in frame[column]]
    return frame.dropna(axis=1, how="all")


def model_cards(root: Path) -> list[dict[str, Any]]:
    """The current checkpoint of each source and kind, with its metadata."""
    return current_models(root)


def _round(value: Any, digits: int = 4) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def metrics_rows(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Test metrics of every current model beside its baselines, one row per (model, method)."""
    rows: list[dict[str, Any]] = []
    for card in cards:
        meta, base = card["meta"], {"source": card["source"], "kind": card["kind"],
                                    "version": card["meta"].get("version"),
                                    "trained": str(card["meta"].get("created_at", ""))[:19]}
        if card["kind"] == NEXT_ITEM:
            level = ("leave-one-out, history masked" if meta.get("mask_seen")
                     else "leave-one-out")
            for method, values in (meta.get("metrics") or {}).items():
                rows.append({**base, "level": level, "method": method,
                             **{k: _round(v) for k, v in values.items()}})
        elif card["kind"] == SEGMENTS:
            k = meta.get("k")
            silhouette = (meta.get("silhouette_by_k") or {}).get(str(k))
            rows.append({**base, "level": "users", "method": f"k-means, k={k}",
                         "silhouette": _round(silhouette)})
        else:
            for level in evaluation_levels(meta):
                for method, values in (level.get("metrics") or {}).items():
                    if method.startswith("model_uncalibrated"):
                        continue
                    rows.append({**base, "level": level.get("level"), "method": method,
                                 **{k: _round(v) for k, v in values.items()
                                    if k in ("auc", "pr_auc", "brier", "ece", "log_loss")}})
    return rows


def evaluation_levels(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The evaluated levels of an intent (item, user) or churn (user) checkpoint."""
    evaluation = meta.get("evaluation") or {}
    return [evaluation[k] for k in ("item_level", "user_level", "evaluation")
            if isinstance(evaluation.get(k), dict)]


def freshness(con: duckdb.DuckDBPyConnection, root: Path) -> list[dict[str, Any]]:
    """Per source: when its files were ingested, its newest event, when it was last scored."""
    ws = Workspace.open(root)
    newest = dict(con.execute("SELECT source, max(ts) FROM events GROUP BY 1").fetchall())
    scored: dict[str, Any] = {}
    if table_exists(con, "user_scores"):
        scored = dict(con.execute("SELECT source, max(scored_at) FROM user_scores GROUP BY 1")
                      .fetchall())
    rows = []
    for name, meta in sorted(ws.sources.items()):
        ingested = max((f.get("ingested_at", "") for f in meta.get("files", [])), default="")
        rows.append({"source": name, "kind": meta.get("kind"),
                     "files": len(meta.get("files", [])), "ingested_at": str(ingested)[:19],
                     "newest_event": _day(newest.get(name)) or "untimed",
                     "scored_at": str(scored.get(name) or "not scored")[:19]})
    return rows


def _day(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    return None if value is None else str(value)
