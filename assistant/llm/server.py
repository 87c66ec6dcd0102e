"""Runs llama-cpp-python's OpenAI-compatible server as a child process.

`EmbeddedServer` starts llama-cpp-python's server (through `assistant.llm.server_child`) on
127.0.0.1 and a free port, waits until `/v1/models` answers (or the process dies, or the
timeout passes), and stops the process on exit: as a context manager, from `stop()`, from an
`atexit` hook (SIGTERM is turned into a normal exit for that), and, if the parent is killed
outright, by the child's own watchdog. The server's output goes to a log file whose tail is
quoted when startup fails.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from assistant.llm.errors import LLMUnavailable
from assistant.llm.server_child import (
    CONTEXTS_ENV,
    CPU_VARIANT_ENV,
    LAZY_GRAMMAR_ENV,
    PARENT_ENV,
)

if TYPE_CHECKING:
    from core.settings import EmbeddedLLMSettings

log = logging.getLogger(__name__)

LOG_TAIL_CHARS = 2000


def _exit_on_sigterm() -> None:
    """Make SIGTERM a normal exit (atexit hooks and `with` blocks run, so the child is stopped).

    Only when SIGTERM still has its default action and we are on the main thread; an
    application that installed its own handler keeps it.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def default_threads() -> int:
    """The cores this process may use (2 on the reference machine): token generation on a
    small CPU model is bound by them. Set `llm.embedded.n_threads` lower when the app, the
    embedder or other jobs must keep a core of their own."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def server_command(model_path: Path, host: str, port: int, *, n_ctx: int = 4096,
                   n_threads: int | None = None, model_alias: str | None = None,
                   n_threads_batch: int | None = None, draft_tokens: int = 0) -> list[str]:
    """The command line that starts llama-cpp-python's server for one GGUF model
    (`n_threads` generate tokens, `n_threads_batch` read the prompt; default: the same;
    `draft_tokens` above 0: prompt-lookup speculative decoding, that many tokens proposed)."""
    threads = n_threads or default_threads()
    batch = n_threads_batch or threads
    command = [sys.executable, "-m", "assistant.llm.server_child", "--model", str(model_path),
               "--host", host, "--port", str(port), "--n_ctx", str(n_ctx),
               "--n_threads", str(threads), "--n_threads_batch", str(batch)]
    if model_alias:
        command += ["--model_alias", model_alias]
    if draft_tokens > 0:
        command += ["--draft_model", "prompt-lookup-decoding",
                    "--draft_model_num_pred_tokens", str(draft_tokens)]
    return command


@dataclass(eq=False, repr=False)
class EmbeddedServer:
    """A llama.cpp server child process with a health-checked start and a guaranteed stop.

    Built as `EmbeddedServer(model_path, host=…, port=…)`; every option is keyword-only.
    """

    model_path: Path
    _: KW_ONLY
    host: str = "127.0.0.1"
    port: int = 0
    n_ctx: int = 4096
    n_threads: int | None = None
    model_alias: str | None = None
    startup_timeout_s: float = 120.0
    log_path: Path | None = None
    n_threads_batch: int | None = None
    cpu_variant: str = "auto"
    lazy_grammar: bool = True
    contexts: int = 1
    draft_tokens: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_handle: object | None = field(default=None, init=False)
    _owns_log: bool = field(default=False, init=False)

    @classmethod
    def from_settings(cls, model_path: Path, cfg: EmbeddedLLMSettings,
                      **overrides: Any) -> EmbeddedServer:
        """A server for `model_path` with the options of `cfg` (the caller's
        `settings.llm.embedded`); `overrides` (e.g. `host=`, `port=`) win."""
        options: dict[str, Any] = {
            "host": cfg.host, "port": cfg.port, "n_ctx": cfg.n_ctx, "n_threads": cfg.n_threads,
            "model_alias": cfg.model_alias, "startup_timeout_s": cfg.startup_timeout_s,
            "n_threads_batch": cfg.n_threads_batch, "cpu_variant": cfg.cpu_variant,
            "lazy_grammar": cfg.lazy_grammar, "contexts": cfg.contexts,
            "draft_tokens": cfg.draft_tokens}
        return cls(model_path, **{**options, **overrides})

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (ends in /v1)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedServer:
        """Start the server and block until it answers; raise `LLMUnavailable` otherwise."""
        if self.running:
            return self
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMUnavailable(self.base_url, "llama-cpp-python is not installed "
                                 "(pip install 'llama-cpp-python[server]==0.3.36')")
        if not self.port:
            self.port = free_port(self.host)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            self._owns_log = True
        command = server_command(self.model_path, self.host, self.port, n_ctx=self.n_ctx,
                                 n_threads=self.n_threads, model_alias=self.model_alias,
                                 n_threads_batch=self.n_threads_batch,
                                 draft_tokens=self.draft_tokens)
        log.info("starting llama.cpp server: %s (log %s)", " ".join(command), self.log_path)
        handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_handle = handle
        env = {**os.environ, PARENT_ENV: str(os.getpid()), CPU_VARIANT_ENV: self.cpu_variant,
               LAZY_GRAMMAR_ENV: "1" if self.lazy_grammar else "0",
               CONTEXTS_ENV: str(max(1, self.contexts))}
        self._process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         env=env)
        atexit.register(self.stop)
        _exit_on_sigterm()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _log_tail(self) -> str:
        try:
            text = Path(str(self.log_path)).read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:].strip()

    def _wait_healthy(self) -> None:
        started = time.monotonic()
        deadline = started + self.startup_timeout_s
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise LLMUnavailable(self.base_url, f"the server exited with code "
                                     f"{self._process.returncode}: {self._log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    log.info("llama.cpp server ready at %s after %.1fs", self.base_url,
                             time.monotonic() - started)
                    return
            time.sleep(0.25)
        raise LLMUnavailable(self.base_url, f"not healthy after {self.startup_timeout_s:.0f}s; "
                             f"log tail: {self._log_tail()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after `timeout_s`); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
            log.info("llama.cpp server at %s stopped", self.base_url)
        handle, self._log_handle = self._log_handle, None
        if handle is not None:
            handle.close()  # type: ignore[attr-defined]
        if self._owns_log and self.log_path is not None:  # a temp log of ours: tidy up
            with contextlib.suppress(OSError):
                self.log_path.unlink()
            self.log_path, self._owns_log = None, False
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def wait(self) -> int:
        """Block until the server exits (foreground serving); return its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def exit_code(self, within_s: float) -> int | None:
        """The exit code if the server has exited or exits within `within_s` (a process that
        was killed can take a moment to go, e.g. unmapping a 1 GB model); None if it lives."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
