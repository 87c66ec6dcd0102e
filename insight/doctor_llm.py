"""The doctor's LLM check: the configured backend starts and answers, within a timeout.

Two requests follow a successful start: a one-token completion, then a small structured
answer through `assistant.llm.structured` (the request form the backend uses in production:
json_object + schema on llama.cpp, json_schema on vLLM). A llama.cpp build that does not suit
this CPU typically answers `/v1/models` and then dies on the first completion; the dead server
is noticed (the request fails at once, no hang) and reported with its exit code and log tail.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.llm.backends import EmbeddedBackend, build_chat_model, create_backend
from assistant.llm.errors import LLMUnavailable
from assistant.llm.invoke import call_model
from assistant.llm.server import EmbeddedServer
from assistant.llm.structured import structured
from core.settings import LLMSettings
from insight.doctor import CheckResult

log = logging.getLogger(__name__)

LOG_TAIL_CHARS = 800
ONE_TOKEN_PROMPT = "Reply with the single word: ready"
SUM_PROMPT = "What is 2 + 3? Put the result in `total`."
SUM_EXPECTED = 5


class DoctorSum(BaseModel):
    """The structured answer the doctor asks for."""

    total: int = Field(description="The sum.")


DYING_GRACE_S = 5.0
"""How long a failed request waits for the server process to finish exiting: a connection
refused often means it is dying, and then its exit code and log say why."""


def probe_settings(settings: LLMSettings, timeout_s: float) -> LLMSettings:
    """`settings` with the doctor's limits: `timeout_s` per start and request, no retries."""
    embedded = settings.embedded.model_copy(update={"startup_timeout_s": timeout_s})
    return settings.model_copy(update={"timeout_s": timeout_s, "max_retries": 0,
                                       "max_tokens": 64, "embedded": embedded})


def log_tail(path: Path | None, chars: int = LOG_TAIL_CHARS) -> str:
    """The last `chars` characters of a server log, whitespace collapsed ('' if unreadable)."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " ".join(text[-chars:].split())


def _exit_description(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _require_alive(server: EmbeddedServer | None) -> None:
    if server is not None and not server.running:
        raise LLMUnavailable(server.base_url, "the server process is no longer running")


def _failure(stage: str, exc: Exception, server: EmbeddedServer | None,
             was_up: bool) -> str:
    """One line saying what failed; a server that died after starting adds its log tail."""
    reason = f"{stage} failed: {exc}"
    code = server.exit_code(within_s=DYING_GRACE_S) if server is not None and was_up else None
    if server is not None and code is not None:
        reason += (f"; the llama.cpp server died ({_exit_description(code)}); "
                   f"log tail: {log_tail(server.log_path)}")
    return reason


def check_llm(settings: LLMSettings, timeout_s: float) -> CheckResult:
    """Start the configured backend; time a one-token and a structured (JSON) completion."""
    probe = probe_settings(settings, timeout_s)
    data: dict[str, Any] = {"backend": settings.backend, "timeout_s": timeout_s}
    try:
        backend = create_backend(probe, progress=False)
    except Exception as exc:  # noqa: BLE001 - model file or settings problems
        return CheckResult("llm", "FAIL", f"cannot set up the {settings.backend} backend: "
                           f"{exc}", data=data)
    server = backend.server if isinstance(backend, EmbeddedBackend) else None
    api_key = "not-needed" if server is not None else probe.api_key.get_secret_value()
    data["model"] = backend.model
    stage, was_up = "start", False
    try:
        started = time.perf_counter()
        if isinstance(backend, EmbeddedBackend):
            backend.start()
        was_up = True
        data["startup_s"] = round(time.perf_counter() - started, 2)

        stage = "one-token completion"
        one_token = probe.model_copy(update={"max_tokens": 1})
        chat = build_chat_model(one_token, backend.base_url, backend.model, api_key,
                                extra_body={"max_tokens": 1})
        started = time.perf_counter()
        reply = call_model(chat, [("user", ONE_TOKEN_PROMPT)], backend.base_url)
        data["one_token_s"] = round(time.perf_counter() - started, 2)
        data["one_token_answer"] = str(reply.content)
        _require_alive(server)

        stage = "structured (JSON schema) completion"
        started = time.perf_counter()
        answer = structured(backend, [("user", SUM_PROMPT)], DoctorSum)
        data["json_s"] = round(time.perf_counter() - started, 2)
        data["json_answer"] = answer.model_dump()
        _require_alive(server)
    except Exception as exc:  # noqa: BLE001 - every failure is this check's FAIL
        log.debug("llm check failed during %s", stage, exc_info=True)
        return CheckResult("llm", "FAIL", _failure(stage, exc, server, was_up), data=data)
    finally:
        backend.close()
    if answer.total != SUM_EXPECTED:
        return CheckResult("llm", "FAIL", f"the model answered total={answer.total} to 2 + 3 "
                           f"(expected {SUM_EXPECTED}): the build computes garbage", data=data)
    where = f"started in {data['startup_s']:.1f}s; " if server is not None else ""
    return CheckResult(
        "llm", "OK", f"{backend.name} {backend.model}: {where}1 token in "
        f"{data['one_token_s']:.1f}s ({data['one_token_answer']!r}); JSON {{\"total\": "
        f"{answer.total}}} in {data['json_s']:.1f}s", data=data)
