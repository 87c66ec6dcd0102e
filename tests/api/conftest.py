"""Fixtures of the scoring API tests: a trained sample workspace and real API servers.

The workspace (Taobao sample slice: next-item, intent and segment models; Beauty sample slice:
next-item model, item titles) is trained once per session with the quick settings and batch
scored, so live scores can be checked against `insight score`. Servers run `insight api` in a
subprocess on a free loopback port and are spoken to over real HTTP.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from predictors.pipeline import TrainRequest, score_sources, train_source
from store.ingest import ingest
from store.sample import SAMPLE_FILES
from tests.conftest import REPO, SAMPLE

API_KEY = "test-key-0123456789abcdef"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    """`insight api` in a subprocess; start, stop gently or kill -9."""

    def __init__(self, workspace: Path, env: dict[str, str] | None = None) -> None:
        self.workspace = workspace
        self.env = {**os.environ, "INSIGHT_API__RELOAD_CHECK_S": "0.1", **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = workspace.parent / f"api-{self.port}.log"

    def start(self, timeout: float = 60.0) -> ApiProcess:
        """Start the server and wait until /healthz answers."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(self.log_path, "a")  # noqa: SIM115 - the child writes it until it exits
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "insight", "api", "-w", str(self.workspace),
             "--port", str(self.port)],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"insight api exited with {self.proc.returncode}: "
                                     f"{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"insight api did not answer in {timeout}s: "
                             f"{self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def kill9(self) -> None:
        """SIGKILL at once: no shutdown code runs."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Taobao (next-item, intent, segments) and Beauty (next-item) sample slices, trained with
    the quick settings and batch scored."""
    ws = tmp_path_factory.mktemp("api") / "ws"
    for name in ("taobao", "beauty"):
        sample = next(f for f in SAMPLE_FILES if f.source == name)
        ingest(sample.kind, SAMPLE / sample.relative_path, ws, source=name, progress=False)
    train_source(ws, "taobao", TrainRequest(quick=True, epochs=2,
                                            kinds=("next_item", "intent", "segments")))
    train_source(ws, "beauty", TrainRequest(quick=True, epochs=1, kinds=("next_item",)))
    score_sources(ws, ["taobao"])
    return ws
