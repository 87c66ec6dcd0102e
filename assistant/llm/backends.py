"""LLM backends behind one interface: a LangChain chat model over the OpenAI protocol.

* `openai-compatible`: any server speaking the OpenAI chat API (vLLM in production,
  see docs/vllm.md); base URL, API key and model name come from settings.
* `embedded` (default): the bundled Qwen2.5-Coder-1.5B-Instruct GGUF served by
  llama-cpp-python on 127.0.0.1, started on demand and stopped on exit.

Sampling is pinned (temperature, seed, max_tokens from settings) so that the same question on
the same data gives the same answer. `create_backend` picks the implementation by settings.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

from langchain_openai import ChatOpenAI

from assistant.llm.model_file import ensure_model
from assistant.llm.server import EmbeddedServer
from assistant.llm.shared_server import find_running
from core.errors import InputError
from core.settings import LLMSettings

log = logging.getLogger(__name__)

StructuredMode = Literal["json_schema", "json_object", "function_calling"]


def build_chat_model(settings: LLMSettings, base_url: str, model: str, api_key: str,
                     extra_body: dict[str, Any] | None = None) -> ChatOpenAI:
    """A ChatOpenAI client with the pinned sampling, timeout and retry settings."""
    return ChatOpenAI(model=model, base_url=base_url, api_key=api_key,
                      temperature=settings.temperature, seed=settings.seed,
                      max_tokens=settings.max_tokens, timeout=settings.timeout_s,
                      max_retries=settings.max_retries, extra_body=extra_body or None)


@runtime_checkable
class LLMBackend(Protocol):
    """What the assistant needs from a language-model backend."""

    name: str
    base_url: str
    model: str
    structured_mode: StructuredMode

    def chat_model(self) -> ChatOpenAI:
        """The LangChain chat model bound to this backend."""
        ...

    def close(self) -> None:
        """Release what the backend started (the embedded server); safe to call twice."""
        ...


class _BackendBase:
    """Shared context-manager behaviour."""

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class OpenAICompatibleBackend(_BackendBase):
    """A remote OpenAI-protocol server such as `vllm serve` (json_schema structured output)."""

    name = "openai-compatible"

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.model = settings.model
        mode = settings.structured_output
        self.structured_mode: StructuredMode = "json_schema" if mode == "auto" else mode

    def chat_model(self) -> ChatOpenAI:
        """ChatOpenAI pointed at the configured server."""
        return build_chat_model(self.settings, self.base_url, self.model,
                                self.settings.api_key.get_secret_value())


class EmbeddedBackend(_BackendBase):
    """The bundled GGUF model behind a local llama.cpp server (json_object + schema)."""

    name = "embedded"

    def __init__(self, settings: LLMSettings, *, progress: bool = True) -> None:
        self.settings = settings
        cfg = settings.embedded
        model_path = ensure_model(cfg.model_path, cfg.model_sha256, cfg.parts_prefix,
                                  cfg.parts_count, progress=progress)
        self.server = EmbeddedServer.from_settings(model_path, cfg)
        self.model = cfg.model_alias
        self.shared_url: str | None = None  # a running `insight llm serve` we talk to
        mode = settings.structured_output
        # llama.cpp's server answers 500 to response_format json_schema.
        self.structured_mode: StructuredMode = "json_object" if mode in (
            "auto", "json_schema") else mode

    @property
    def base_url(self) -> str:
        """The server's URL (known once started; the port is picked at start)."""
        return self.shared_url or self.server.base_url

    def start(self) -> EmbeddedBackend:
        """Use the server `insight llm serve` keeps running for this model, or start our own
        (idempotent)."""
        if self.shared_url is None and not self.server.running:
            self.shared_url = find_running(self.server.model_path, self.model)
        if self.shared_url is None:
            self.server.start()
        return self

    def chat_model(self) -> ChatOpenAI:
        """ChatOpenAI pointed at the local server, started on first use."""
        self.start()
        # ChatOpenAI sends `max_completion_tokens`, which llama-cpp-python ignores.
        return build_chat_model(self.settings, self.base_url, self.model, "not-needed",
                                extra_body={"max_tokens": self.settings.max_tokens})

    def close(self) -> None:
        """Stop our own server (a shared one keeps running for the others)."""
        self.shared_url = None
        self.server.stop()

    def __enter__(self) -> EmbeddedBackend:
        return self.start()


def create_backend(settings: LLMSettings, *, progress: bool = True) -> LLMBackend:
    """The backend named by `settings.backend` (the embedded one starts lazily or on enter)."""
    if settings.backend == "openai-compatible":
        return OpenAICompatibleBackend(settings)
    if settings.backend == "embedded":
        return EmbeddedBackend(settings, progress=progress)
    raise InputError(f"unknown LLM backend {settings.backend!r}")
