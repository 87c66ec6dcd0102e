"""Helpers for the tool tests: a scripted OpenAI-protocol server (with streaming), a backend
pointing at it, and the sample workspace with a small published `user_scores` table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from langchain_openai import ChatOpenAI

from store.sample import ingest_sample
from store.workspace import Workspace
from tests.assistant.fake_openai import send_json, serve_posts

Responder = Callable[[dict[str, Any]], str]


def last_user_text(request: dict[str, Any]) -> str:
    """The text of the last user message of a chat request."""
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def system_text(request: dict[str, Any]) -> str:
    """The system message of a chat request."""
    for message in request.get("messages", []):
        if message.get("role") == "system":
            return str(message.get("content"))
    return ""


class Scripted:
    """Answers each request with `responder(request)`; records every request."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.url = ""


def _body(content: str) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _chunks(content: str) -> Iterator[bytes]:
    words = content.split(" ")
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        data = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield f"data: {json.dumps(data)}\n\n".encode()
    end = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()


@contextmanager
def scripted_server(responder: Responder) -> Iterator[Scripted]:
    """Run a scripted OpenAI-compatible server on 127.0.0.1 for the block."""
    fake = Scripted(responder)

    def on_post(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
        fake.requests.append(request)
        content = fake.responder(request)
        if not request.get("stream"):
            send_json(handler, 200, _body(content))
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for chunk in _chunks(content):
            handler.wfile.write(chunk)

    with serve_posts(on_post) as url:
        fake.url = url
        yield fake


class FakeBackend:
    """An `LLMBackend` over any OpenAI-protocol URL (json_object structured output)."""

    name = "fake"
    model = "scripted-model"
    structured_mode = "json_object"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def chat_model(self) -> ChatOpenAI:
        """A client with no retries and a short timeout."""
        return ChatOpenAI(model=self.model, base_url=self.base_url, api_key="x",
                          max_retries=0, timeout=10, temperature=0)

    def close(self) -> None:
        """Nothing to stop."""

    def __enter__(self) -> FakeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SCORES_SCHEMA = pa.schema([
    ("source", pa.string()), ("user_id", pa.string()), ("top_items", pa.list_(pa.string())),
    ("top_scores", pa.list_(pa.float64())), ("intent_p_any", pa.float64()),
    ("intent_items", pa.list_(pa.string())), ("intent_scores", pa.list_(pa.float64())),
    ("churn_risk", pa.float64()), ("segment", pa.int64()), ("n_events", pa.int64()),
    ("last_ts", pa.timestamp("us", tz="UTC")), ("model_version", pa.string()),
    ("scored_at", pa.timestamp("us", tz="UTC")),
])


def publish_scores(root: Path, with_extras: bool = True) -> None:
    """Publish a small `user_scores` partition for taobao: each user's most-viewed items."""
    ws = Workspace.open(root)
    con = ws.connect()
    rows = con.execute(
        """
        WITH c AS (SELECT user_id, item_id, count(*) AS n, max(ts) AS last
                   FROM events WHERE source = 'taobao' GROUP BY ALL),
        r AS (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, item_id) AS k
              FROM c)
        SELECT user_id, list(item_id ORDER BY k), list(n / 100.0 ORDER BY k), sum(n), max(last)
        FROM r WHERE k <= 5 GROUP BY user_id ORDER BY user_id
        """).fetchall()
    con.close()
    n = len(rows)
    data = {
        "source": ["taobao"] * n, "user_id": [r[0] for r in rows],
        "top_items": [r[1] for r in rows], "top_scores": [r[2] for r in rows],
        "intent_p_any": [0.1 + (i % 7) / 10 for i in range(n)] if with_extras else [None] * n,
        "intent_items": [r[1][:2] for r in rows], "intent_scores": [r[2][:2] for r in rows],
        "churn_risk": [(i % 5) / 5 for i in range(n)] if with_extras else [None] * n,
        "segment": [i % 3 for i in range(n)] if with_extras else [None] * n,
        "n_events": [int(r[3]) for r in rows], "last_ts": [r[4] for r in rows],
        "model_version": ["test"] * n, "scored_at": [r[4] for r in rows],
    }
    ws.write_derived("user_scores", pa.table(data, schema=SCORES_SCHEMA), {"users": n},
                     partition="taobao")


def build_sample(root: Path, scores: bool = True) -> Path:
    """Ingest the bundled sample (and publish test scores) into `root`."""
    ingest_sample(root)
    if scores:
        publish_scores(root)
    return root


@pytest.fixture(scope="session")
def sample_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample plus a small `user_scores` table, built once per session."""
    return build_sample(tmp_path_factory.mktemp("tools") / "ws")


@pytest.fixture
def sample_con(sample_ws: Path) -> Iterator[Any]:
    """A read-only connection to the sample workspace."""
    con = Workspace.open(sample_ws).connect()
    yield con
    con.close()
