"""The FastAPI app of the scoring API: routes, the auth and metrics guard, error bodies.

Routes: ``POST /v1/events``, ``GET /v1/users/{source}/{user_id}/scores``, ``POST /v1/score``,
``GET /v1/audiences`` (when the audience builder is installed), ``GET /healthz``,
``GET /metrics``; OpenAPI docs at ``/docs``. Every error body is ``{"error": "...", ...}``
with a message that names the offending field.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import KeyRing, is_loopback_client
from api.event_log import LiveEvent
from api.metrics import CONTENT_TYPE
from api.schemas import (
    ErrorOut,
    EventsIn,
    EventsOut,
    Health,
    ScoreIn,
    SessionScores,
    UserScores,
)
from api.state import ApiError, ApiState
from core.errors import InputError, WorkspaceError
from core.settings import ApiSettings

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]
PROTECTED_PREFIXES = ("/v1/", "/metrics")
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in
                                           (401, 403, 404, 413, 422)}


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``('body', 'events', 2, 'ts')`` → ``events[2].ts`` (the request part is dropped)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _json_error(status: int, message: str, headers: dict[str, str] | None = None,
                detail: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: API keys (or loopback-only), body size limit, request metrics."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        refusal = self._refusal(scope)
        try:
            if refusal is not None:
                await refusal(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or ("refused" if refusal else "unmatched")
            labels = (("route", name), ("method", scope.get("method", "")),
                      ("status", str(status["code"])))
            self.state.metrics.inc("insight_api_requests_total", labels)
            self.state.metrics.observe(name, time.perf_counter() - started)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        path: str = scope.get("path", "")
        if path.startswith(PROTECTED_PREFIXES):
            keys = self.state.keys
            if keys.required:
                if not keys.accepts(headers.get("authorization")):
                    why = ("missing" if "authorization" not in headers else "wrong")
                    return _json_error(401, f"Authorization: {why} API key; send "
                                            "`Authorization: Bearer KEY`",
                                       headers={"WWW-Authenticate": "Bearer"})
            else:
                client = scope.get("client")
                if not is_loopback_client(client[0] if client else None):
                    return _json_error(403, "client: this API has no keys configured and "
                                            "answers loopback clients only")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and \
                int(length) > self.state.settings.max_body_bytes:
            return _json_error(413, f"body: {int(length):,} bytes; at most "
                                    f"{self.state.settings.max_body_bytes:,}")
        return None


def _event_time(ts: dt.datetime | None, now: dt.datetime, skew_s: float, field: str
                ) -> dt.datetime:
    """UTC time of an event (naive means UTC, none means now); future times are refused."""
    if ts is None:
        return now
    ts = ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)
    if ts > now + dt.timedelta(seconds=skew_s):
        raise ApiError(422, f"{field}: {ts.isoformat()} is in the future (server time "
                            f"{now.isoformat(timespec='seconds')})")
    return ts


def _check_batch(n: int, limit: int) -> None:
    if n > limit:
        raise ApiError(413, f"events: {n:,} events in one request; at most {limit:,} "
                            "(api.max_batch_events)")


def create_app(root: Path, settings: ApiSettings, keys: KeyRing) -> FastAPI:
    """The API over the workspace at `root` (opens its logs and holds its API lock)."""
    state = ApiState(root, settings, keys)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            state.warm()
            yield
        finally:
            state.close()

    app = FastAPI(title="behavior-insight scoring API", version="1",
                  description="Live next-item, intent, churn and segment scores; event "
                              "ingestion. Send `Authorization: Bearer KEY` when keys are set.",
                  lifespan=lifespan, responses=ERRORS)
    app.state.api = state
    app.add_middleware(Guard, state=state)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _json_error(exc.status, exc.message)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return _json_error(422, str(exc))

    @app.exception_handler(WorkspaceError)
    async def _workspace_error(_: Request, exc: WorkspaceError) -> JSONResponse:
        return _json_error(503, f"workspace: {exc}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            where = first["loc"][-1] if first.get("loc") else "?"
            return _json_error(422, f"body: not valid JSON (at character {where}): "
                                    f"{first.get('ctx', {}).get('error', first['msg'])}")
        got = first.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r:.60})"
        message = f"{field_name(first['loc'])}: {first['msg']}{shown}"
        if len(errors) > 1:
            message += f"; and {len(errors) - 1} more error(s)"
        detail = [{"field": field_name(e["loc"]), "message": e["msg"]} for e in errors[:20]]
        return _json_error(422, message, detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json_error(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving a request")
        return _json_error(500, f"internal error ({type(exc).__name__}); see the server log")

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness, the workspace's sources and what is loaded."""
        return state.health()

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    def metrics() -> PlainTextResponse:
        """Prometheus metrics (text exposition format)."""
        return PlainTextResponse(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/events", response_model=EventsOut, tags=["events"])
    def post_events(body: EventsIn) -> dict[str, Any]:
        """Append events durably (fsync'd log); re-posting an event id is a no-op."""
        _check_batch(len(body.events), settings.max_batch_events)
        source = state.require_source(body.source, 422, "source")
        now = dt.datetime.now(dt.UTC)
        events = [LiveEvent(event_id=e.event_id, user_id=e.user_id, item_id=e.item_id,
                            event_type=e.event_type, received_at=now,
                            ts=_event_time(e.ts, now, settings.max_future_skew_s,
                                           f"events[{i}].ts"),
                            session_id=e.session_id, price=e.price, category=e.category,
                            brand=e.brand)
                  for i, e in enumerate(body.events)]
        accepted, duplicates = state.append(source, events)
        return {"source": source, "accepted": accepted, "duplicates": duplicates}

    @app.get("/v1/users/{source}/{user_id}/scores", response_model=UserScores,
             tags=["scores"])
    def user_scores(source: str, user_id: str,
                    k: Annotated[int | None, Query(ge=1, le=100)] = None) -> dict[str, Any]:
        """A user's next items, intent, churn and segment from stored plus live events."""
        state.require_source(source, 404, "source")
        return state.user_scores(source, user_id, k or settings.top_k)

    @app.post("/v1/score", response_model=SessionScores, tags=["scores"])
    def score_session(body: ScoreIn) -> dict[str, Any]:
        """Score a session's events without storing them (anonymous or new users)."""
        _check_batch(len(body.events), settings.max_batch_events)
        source = state.require_source(body.source, 422, "source")
        now = dt.datetime.now(dt.UTC)
        events = [{"item_id": e.item_id, "event_type": e.event_type,
                   "ts": None if e.ts is None else _event_time(
                       e.ts, now, settings.max_future_skew_s, f"events[{i}].ts")}
                  for i, e in enumerate(body.events)]
        return state.session_scores(source, events, body.k or settings.top_k)

    if importlib.util.find_spec("predictors.audience") is not None:
        from api.audiences import add_audience_route

        add_audience_route(app, state)
    return app

