"""Calls a backend's chat model and turns transport failures into clear `LLMError`s."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from assistant.llm.errors import LLMError, LLMUnavailable

if TYPE_CHECKING:
    from assistant.llm.backends import LLMBackend


@contextmanager
def llm_errors(base_url: str) -> Iterator[None]:
    """Turn OpenAI client failures into `LLMUnavailable` (server down/slow) or `LLMError`."""
    try:
        yield
    except openai.APITimeoutError as exc:
        raise LLMUnavailable(base_url, "no answer before the timeout (server overloaded or "
                             "too slow; raise INSIGHT_LLM__TIMEOUT_S)") from exc
    except openai.APIConnectionError as exc:
        raise LLMUnavailable(base_url, "cannot connect (is the server running?)") from exc
    except openai.InternalServerError as exc:
        raise LLMUnavailable(base_url, f"server error HTTP {exc.status_code}: "
                             f"{exc.message}") from exc
    except openai.APIStatusError as exc:
        raise LLMError(f"LLM server at {base_url} rejected the request "
                       f"(HTTP {exc.status_code}): {exc.message}") from exc


def call_model(runnable: Runnable[LanguageModelInput, Any], messages: Sequence[Any],
               base_url: str, **kwargs: Any) -> AIMessage:
    """Invoke a chat model; a dead, slow or failing server raises `LLMUnavailable`/`LLMError`."""
    with llm_errors(base_url):
        result = runnable.invoke(list(messages), **kwargs)
    if not isinstance(result, AIMessage):
        raise LLMError(f"LLM server at {base_url} returned {type(result).__name__}, "
                       "not a chat message")
    return result


@dataclass
class CheckResult:
    """Outcome of a one-line round trip to the configured backend."""

    backend: str
    base_url: str
    model: str
    seconds: float
    answer: str
    completion_tokens: int | None


def check_backend(backend: LLMBackend,
                  prompt: str = "Reply with the single word: ready") -> CheckResult:
    """Send one short prompt and time the answer (for `insight llm check`)."""
    chat = backend.chat_model()
    messages: list[BaseMessage | tuple[str, str]] = [("user", prompt)]
    started = time.perf_counter()
    reply = call_model(chat, messages, backend.base_url)
    seconds = time.perf_counter() - started
    usage = reply.usage_metadata or {}
    return CheckResult(backend.name, backend.base_url, backend.model, seconds,
                       str(reply.content).strip(), usage.get("output_tokens"))
