"""The doctor's LLM check: both probes, a wrong answer, a slow or failing server, a dead one."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import psutil
import pytest

from assistant.llm.model_file import is_verified
from core.settings import EmbeddedLLMSettings, LLMSettings
from insight import doctor_llm
from insight.doctor_llm import check_llm
from tests.assistant.fake_openai import completion, fake_openai_server


def _remote(url: str) -> LLMSettings:
    return LLMSettings(backend="openai-compatible", base_url=url, model="fake")


def test_remote_backend_answers_both_probes() -> None:
    with fake_openai_server() as fake:
        fake.push(completion("ready"))
        fake.push(completion('{"total": 5}'))
        result = check_llm(_remote(fake.url), 30)
    assert result.status == "OK", result.detail
    assert result.data["json_answer"] == {"total": 5}
    assert "1 token in" in result.detail and 'JSON {"total": 5} in' in result.detail
    one_token, structured = fake.requests
    assert one_token["max_tokens"] == 1
    assert structured["response_format"]["type"] == "json_schema"
    assert structured["response_format"]["json_schema"]["schema"]["required"] == ["total"]


def test_a_wrong_sum_fails() -> None:
    with fake_openai_server() as fake:
        fake.push(completion("ready"))
        fake.push(completion('{"total": 7}'))
        result = check_llm(_remote(fake.url), 30)
    assert result.status == "FAIL"
    assert "answered total=7 to 2 + 3 (expected 5)" in result.detail


def test_a_server_error_fails_naming_the_stage() -> None:
    with fake_openai_server() as fake:
        fake.push(completion("ready"))
        fake.push({"error": "boom"}, status=500)
        result = check_llm(_remote(fake.url), 30)
    assert result.status == "FAIL"
    assert result.detail.startswith("structured (JSON schema) completion failed: ")
    assert "HTTP 500" in result.detail


def test_a_silent_server_fails_at_the_timeout_not_later() -> None:
    with fake_openai_server() as fake:
        fake.push(completion("ready"))
        fake.delay_s = 5.0
        started = time.monotonic()
        result = check_llm(_remote(fake.url), 1.0)
    assert time.monotonic() - started < 4.0
    assert result.status == "FAIL"
    assert result.detail.startswith("one-token completion failed: ")
    assert "no answer before the timeout" in result.detail


# --- the real embedded server ---------------------------------------------------------------

def _model_ready() -> bool:
    cfg = EmbeddedLLMSettings()
    return (importlib.util.find_spec("llama_cpp") is not None
            and is_verified(cfg.model_path.expanduser(), cfg.model_sha256))


needs_model = pytest.mark.skipif(not _model_ready(),
                                 reason="llama-cpp-python or the assembled model is missing")


def _embedded() -> LLMSettings:
    return LLMSettings(embedded=EmbeddedLLMSettings(n_ctx=1024))


@pytest.mark.llm
@needs_model
def test_real_embedded_model_passes() -> None:
    result = check_llm(_embedded(), 120)
    assert result.status == "OK", result.detail
    assert result.data["json_answer"] == {"total": 5}
    assert result.data["startup_s"] > 0


@pytest.mark.llm
@needs_model
def test_a_server_that_dies_on_the_first_completion_fails_with_its_log(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real_call = doctor_llm.call_model

    def kill_then_call(*args: Any, **kwargs: Any) -> Any:
        """What a llama.cpp build that does not suit the CPU does: die on the first request."""
        for child in psutil.Process().children(recursive=True):
            if "assistant.llm.server_child" in " ".join(child.cmdline()):
                child.kill()  # left for the server's own Popen to reap (its exit code)
                deadline = time.monotonic() + 10
                while child.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                    time.sleep(0.05)
        return real_call(*args, **kwargs)

    monkeypatch.setattr(doctor_llm, "call_model", kill_then_call)
    started = time.monotonic()
    result = check_llm(_embedded(), 120)
    assert time.monotonic() - started < 60
    assert result.status == "FAIL"
    assert result.detail.startswith("one-token completion failed: ")
    assert "the llama.cpp server died (killed by SIGKILL); log tail: " in result.detail
    assert result.detail.split("log tail: ", 1)[1].strip()
