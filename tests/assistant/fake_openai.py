"""A tiny OpenAI-protocol chat server for tests: records requests, returns canned answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(content: str | None = None, tool_args: dict[str, Any] | None = None,
               tool_name: str = "Answer") -> dict[str, Any]:
    """A chat.completion response body with either text content or one tool call."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_args is not None:
        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
            "name": tool_name, "arguments": json.dumps(tool_args)}}]
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if tool_args is not None else "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}


class FakeOpenAI:
    """Serves queued responses (status, body) in order; the last one repeats."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[tuple[int, dict[str, Any]]] = []
        self.delay_s = 0.0
        self.url = ""

    def push(self, body: dict[str, Any], status: int = 200) -> None:
        """Queue one response."""
        self.responses.append((status, body))

    def _next(self) -> tuple[int, dict[str, Any]]:
        if len(self.responses) > 1:
            return self.responses.pop(0)
        return self.responses[0] if self.responses else (500, {"error": "nothing queued"})


PostHandler = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


def send_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    """Answer the request `handler` serves with a JSON body."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def serve_posts(on_post: PostHandler) -> Iterator[str]:
    """Serve HTTP on 127.0.0.1 and a free port for the block, yielding the `/v1` base URL;
    each POST's JSON body goes to `on_post(handler, request)`, which writes the answer."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # silence the default stderr log
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            with suppress(BrokenPipeError, ConnectionResetError):
                on_post(self, request)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """Run a FakeOpenAI on 127.0.0.1 and a free port for the duration of the block."""
    fake = FakeOpenAI()

    def on_post(handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
        fake.requests.append(request)
        if fake.delay_s:
            time.sleep(fake.delay_s)
        send_json(handler, *fake._next())

    with serve_posts(on_post) as url:
        fake.url = url
        yield fake
