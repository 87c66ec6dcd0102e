"""A running `insight llm serve` is found and reused; stale or foreign announcements are not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from assistant.llm.backends import EmbeddedBackend
from assistant.llm.shared_server import announce, discovery_path, find_running, withdraw
from core.settings import LLMSettings

ALIAS = "qwen2.5-coder-1.5b-instruct"


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"data": [{"id": ALIAS}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture()
def models_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_a_live_announced_server_is_reused(tmp_path: Path, models_server: str) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"gguf")
    announce(model, models_server, ALIAS, pid=os.getpid())
    assert find_running(model, ALIAS) == models_server
    assert find_running(model, "another-model") is None  # not the model we need
    settings = LLMSettings.model_validate({"embedded": {"model_path": str(model),
                                                        "model_sha256": "0" * 64}})
    backend = EmbeddedBackend.__new__(EmbeddedBackend)  # no model download for this unit
    backend.settings, backend.model, backend.shared_url = settings, ALIAS, None
    backend.server = type("S", (), {"model_path": model, "running": False,
                                    "start": lambda self: pytest.fail("started its own"),
                                    "stop": lambda self: None, "base_url": "unused"})()
    assert backend.start().base_url == models_server
    withdraw(model, pid=os.getpid())
    assert not discovery_path(model).exists()


def test_a_stale_announcement_is_removed(tmp_path: Path, models_server: str) -> None:
    model = tmp_path / "model.gguf"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    announce(model, models_server, ALIAS, pid=int(gone.stdout))
    assert find_running(model, ALIAS) is None
    assert not discovery_path(model).exists()


def test_no_announcement_means_no_server(tmp_path: Path) -> None:
    assert find_running(tmp_path / "model.gguf", ALIAS) is None
