"""What one API process holds: the workspace, its append logs, models, histories and metrics.

One process serves a workspace at a time (an exclusive lock on ``live/.api.lock``), since it
alone writes the append logs and keeps their event ids for deduplication.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

from api.auth import KeyRing
from api.event_log import LIVE_DIR, LiveEvent, LoggedEvent, SourceLog
from api.histories import Histories
from api.live_models import LiveModels
from api.metrics import Metrics
from api.scoring import Scorer
from core.errors import WorkspaceError
from core.settings import ApiSettings
from store.files import exclusive_lock
from store.workspace import MANIFEST, Workspace

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses: an HTTP status and a message naming the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApiState:
    """The long-lived objects behind the routes; :meth:`close` releases them."""

    def __init__(self, root: Path, settings: ApiSettings, keys: KeyRing) -> None:
        self.root = Path(root)
        self.settings = settings
        self.keys = keys
        Workspace.open(self.root)  # a clear WorkspaceError when there is none
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(exclusive_lock(
            self.root / LIVE_DIR / ".api.lock", 0,
            f"another `insight api` already serves workspace {self.root}"))
        self._logs: dict[str, SourceLog] = {}
        self._logs_lock = threading.Lock()
        self._sources: tuple[tuple[int, int], list[str]] | None = None
        self.metrics = Metrics()
        self.models = LiveModels(self.root, settings.reload_check_s)
        self.histories = Histories(
            self.root, live_events=lambda s, offset: self.source_log(s).since(offset),
            needs_sql=lambda s: self.models.get(s).has_behavior,
            check_s=settings.reload_check_s)
        self.scorer = Scorer()
        self.metrics.gauge("insight_api_model_reloads", "Checkpoint swaps since start.",
                           lambda: float(self.models.reloads))
        self.metrics.gauge("insight_api_data_loads", "Source data (re)loads since start.",
                           lambda: float(self.histories.rebuilds))
        self.metrics.gauge("insight_api_uptime_seconds", "Seconds since start.",
                           lambda: dt.datetime.now().timestamp() - self.metrics.started)

    def warm(self) -> None:
        """Open every existing append log (dropping a torn last line, reading the ids) and
        load the models and histories of every source with a next-item model, so the first
        requests do not pay for it."""
        from api.compact import logged_sources
        from store.checkpoints import NEXT_ITEM, current_version

        for source in logged_sources(self.root):
            if source in self.sources():
                self.source_log(source)
        ws = Workspace.open(self.root)
        for source in self.sources():
            if current_version(ws, source, NEXT_ITEM) is not None:
                self.models.get(source)
                self.histories.get(source)

    def close(self) -> None:
        """Close the logs and release the workspace's API lock."""
        with self._logs_lock:
            for source_log in self._logs.values():
                source_log.close()
            self._logs.clear()
        self._stack.close()

    # ----- sources -------------------------------------------------------------------------
    def sources(self) -> list[str]:
        """The workspace's sources (the manifest is re-read only when its mtime changes)."""
        st = (self.root / MANIFEST).stat()
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._sources
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            names = sorted(json.loads((self.root / MANIFEST).read_text())["sources"])
        except (OSError, ValueError, KeyError) as exc:
            raise WorkspaceError(f"cannot read {self.root / MANIFEST}: {exc}") from exc
        self._sources = (stamp, names)
        return names

    def require_source(self, source: str, status: int, field: str) -> str:
        """`source` when the workspace has it; else an ApiError naming `field`."""
        names = self.sources()
        if source not in names:
            raise ApiError(status, f"{field}: unknown source {source!r}; known: "
                                   f"{', '.join(names) or 'none'}")
        return source

    def source_log(self, source: str) -> SourceLog:
        """The append log of `source`, opened on first use."""
        with self._logs_lock:
            found = self._logs.get(source)
            if found is None:
                found = self._logs[source] = SourceLog(self.root, source)
            return found

    # ----- work ----------------------------------------------------------------------------
    def append(self, source: str, events: list[LiveEvent]) -> tuple[int, int]:
        """Log the events durably and add them to the live histories; (accepted, duplicates)."""
        source_log = self.source_log(source)
        with self.histories.append_lock(source):
            logged: list[LoggedEvent]
            logged, duplicates = source_log.append(events)
            self.histories.add_live(source, logged)
        labels = (("source", source),)
        if logged:
            self.metrics.inc("insight_api_events_appended_total", labels, len(logged))
        if duplicates:
            self.metrics.inc("insight_api_events_duplicate_total", labels, duplicates)
        return len(logged), duplicates

    def user_scores(self, source: str, user_id: str, k: int) -> dict[str, Any]:
        """A user's live scores; ApiError 404 for a user with no events."""
        models = self.models.get(source)
        data = self.histories.get(source)
        history = data.history(user_id)
        if history is None:
            raise ApiError(404, f"user_id: unknown user {user_id!r} in source {source!r} (no "
                                "stored or live events)")
        return self.scorer.user(models, data, user_id, history, k)

    def session_scores(self, source: str, events: list[dict[str, Any]], k: int
                       ) -> dict[str, Any]:
        """A session's scores; nothing is stored."""
        models = self.models.get(source)
        data = self.histories.get(source)
        return self.scorer.session(models, data, events, k)

    def health(self) -> dict[str, Any]:
        """What /healthz reports."""
        loaded = self.histories.status()
        for source, info in loaded.items():
            info["model_version"] = self.models.get(source).version
        return {"status": "ok", "workspace": str(self.root), "sources": self.sources(),
                "loaded": loaded, "auth": "keys" if self.keys.required else "loopback-only"}
