"""Live scoring: one user's or one session's next items, intent, churn and segment.

Next items come from the current next-item checkpoint over the last `max_len` events the model
knows (one forward pass, no retraining). Intent, churn and segment come from their saved
models over the source's events table (:mod:`api.behavior`); a user's result is cached until
the source receives another event or a model changes. A session (`POST /v1/score`) is scored
the same way, its events inserted into that table inside a transaction that is rolled back,
so nothing of it is kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from typing import Any

import numpy as np

from api import behavior
from api.event_log import LiveEvent
from api.histories import SourceData, UserHistory, events_arrow
from api.live_models import ModelSet
from predictors.next_item import TYPE_IDS, NextItemModel

log = logging.getLogger(__name__)

CACHE_LIMIT = 50_000
SESSION_USER_PREFIX = "~session-"


def encode_tail(model: NextItemModel, items: list[str], kinds: list[str]
                ) -> tuple[list[int], list[int]]:
    """The last `max_len` events whose item the model knows, as model ints (oldest first)."""
    index = model.items.id_to_index
    out_items: list[int] = []
    out_types: list[int] = []
    for item, kind in zip(reversed(items), reversed(kinds), strict=True):
        known = index.get(item)
        if known is None:
            continue
        out_items.append(known)
        out_types.append(TYPE_IDS[kind])
        if len(out_items) == model.max_len:
            break
    out_items.reverse()
    out_types.reverse()
    return out_items, out_types


def next_items(models: ModelSet, titles: dict[str, str], items: list[str], kinds: list[str],
               k: int) -> tuple[list[dict[str, Any]], np.ndarray | None, int, str | None]:
    """Top-k items with titles and scores, the sequence embedding, the number of known events
    used, and the reason when there are no next items."""
    model = models.next_item
    if model is None:
        return [], None, 0, models.errors.get(
            "next_item", f"no next-item model for source {models.source!r}; run "
                         f"`insight train --source {models.source}`")
    inputs, types = encode_tail(model, items, kinds)
    if not inputs:
        return [], None, 0, "none of these events' items is known to the next-item model"
    ids, scores, hidden = model.recommend([inputs], [types] if model.use_types else None, k=k)
    out = [{"item_id": i, "title": titles.get(i), "score": s}
           for i, s in zip(ids[0], scores[0], strict=True)]
    return out, hidden[0], len(inputs), None


def _behavior(models: ModelSet, data: SourceData, user_id: str,
              embedding: np.ndarray | None) -> dict[str, Any]:
    """Intent, churn and segment (each a value or None) and the reasons for the None ones;
    call with `data.con_lock` held."""
    out: dict[str, Any] = {"intent": None, "churn": None, "segment": None, "unavailable": {}}
    reasons: dict[str, str] = out["unavailable"]
    con = data.con
    checks = (("intent", models.intent), ("churn", models.churn), ("segment", models.segments))
    for name, model in checks:
        kind = "segments" if name == "segment" else name
        if model is None:
            reasons[name] = models.errors.get(
                kind, f"no {kind} model for source {models.source!r}")
            continue
        if con is None:
            reasons[name] = "the source's events are not loaded for this model yet"
            continue
        if name == "intent":
            value, reason = behavior.intent_of(con, model, models.source, user_id)
        elif name == "churn":
            value, reason = behavior.churn_of(con, model, models.source, user_id)
        else:
            if embedding is None and models.next_item is not None:
                value, reason = None, "the segment model needs a sequence embedding, and " \
                                      "none of the user's items is known to the next-item model"
            else:
                value, reason = behavior.segment_of(con, model, models.source, user_id,
                                                    embedding)
            value = None if value is None else value["segment"]
        out[name] = value
        if reason is not None:
            reasons[name] = reason
    return out


class Scorer:
    """Scores users and sessions of any source with the given models and data."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._cache_lock = threading.Lock()

    def user(self, models: ModelSet, data: SourceData, user_id: str, history: UserHistory,
             k: int) -> dict[str, Any]:
        """Scores of a known user (stored history plus live events)."""
        top, embedding, _, reason = next_items(models, data.titles, history.items,
                                               history.kinds, k)
        result: dict[str, Any] = {
            "source": models.source, "user_id": user_id, "model_version": models.version,
            "model_versions": dict(models.versions), "next_items": top,
            "n_events": len(history.items), "n_live_events": history.n_live,
            "last_ts": history.last_ts(),
        }
        if models.has_behavior:
            key = (models.source, user_id, id(data), data.live_counter, models.version)
            with self._cache_lock:
                cached = self._cache.get(key)
            if cached is None:
                with data.con_lock:
                    cached = _behavior(models, data, user_id, embedding)
                with self._cache_lock:
                    if len(self._cache) >= CACHE_LIMIT:
                        self._cache.clear()
                    self._cache[key] = cached
            result.update({**cached, "unavailable": dict(cached["unavailable"])})
        else:
            result.update(_behavior(models, data, user_id, embedding))
        if reason is not None:
            result["unavailable"]["next_items"] = reason
        return result

    def session(self, models: ModelSet, data: SourceData, events: list[dict[str, Any]],
                k: int) -> dict[str, Any]:
        """Scores of an anonymous session; its events are used and then forgotten."""
        now = dt.datetime.now(dt.UTC)
        ordered = sorted(enumerate(events), key=lambda p: (
            p[1]["ts"] is not None, p[1]["ts"] or now, p[0]))
        items = [e["item_id"] for _, e in ordered]
        kinds = [e["event_type"] for _, e in ordered]
        top, embedding, known, reason = next_items(models, data.titles, items, kinds, k)
        result: dict[str, Any] = {
            "source": models.source, "model_version": models.version,
            "model_versions": dict(models.versions), "next_items": top,
            "n_events": len(events), "n_known_items": known,
        }
        if models.has_behavior and data.con is not None:
            user_id = f"{SESSION_USER_PREFIX}{uuid.uuid4().hex}"
            untimed = sum(1 for _, e in ordered if e["ts"] is None)
            # untimed events come first (as untimed rows do in the workspace): just before
            # the first timed one, or just before now when none has a time
            anchor = ordered[untimed][1]["ts"] if untimed < len(ordered) else now
            live = [LiveEvent(event_id=str(i), user_id=user_id, item_id=e["item_id"],
                              event_type=e["event_type"], received_at=now,
                              ts=e["ts"] or anchor - dt.timedelta(microseconds=untimed - i))
                    for i, (_, e) in enumerate(ordered)]
            table = events_arrow(models.source, live, first_ordinal=2**41)
            with data.con_lock:
                con = data.con
                con.execute("BEGIN TRANSACTION")
                try:
                    con.register("_session", table)
                    con.execute("INSERT INTO events BY NAME SELECT * FROM _session")
                    con.unregister("_session")
                    result.update(_behavior(models, data, user_id, embedding))
                finally:
                    con.execute("ROLLBACK")
        else:
            result.update(_behavior(models, data, "", embedding))
        if reason is not None:
            result["unavailable"]["next_items"] = reason
        return result
