"""Free-text generation for the tools: streamed, timed, with transport errors made readable.

`generate` streams the model's answer chunk by chunk (so the CLI and UI can show the first
token early), records the time to the first chunk in the tool's `ToolRun`, and maps the
OpenAI client's exceptions to the LLM layer's `LLMUnavailable` / `LLMError` with
`assistant.llm.invoke.llm_errors`, the same mapping `call_model` uses for non-streamed calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from assistant.claims.copy import repair_schema, schema_format
from assistant.llm.backends import LLMBackend
from assistant.llm.invoke import llm_errors
from assistant.tools.trace import ToolRun
from prompts import load_prompt

log = logging.getLogger(__name__)

ChunkSink = Callable[[str], None]


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)
    return str(content or "")


def limit_kwargs(chat: Any, max_tokens: int | None,
                 extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per-call overrides that cap the answer at `max_tokens` (also inside `extra_body`, where
    the embedded backend puts it because llama.cpp ignores `max_completion_tokens`), with
    `extra_body` fields (e.g. a `response_format`) added to the request body."""
    kwargs: dict[str, Any] = {} if max_tokens is None else {"max_tokens": max_tokens}
    extra = getattr(chat, "extra_body", None)
    body = dict(extra) if isinstance(extra, dict) else {}
    if max_tokens is not None and "max_tokens" in body:
        body["max_tokens"] = max_tokens
    elif not extra_body:
        return kwargs
    if extra_body or body != extra:
        kwargs["extra_body"] = {**body, **(extra_body or {})}
    return kwargs


def stream_text(backend: LLMBackend, messages: Sequence[Any], run: ToolRun | None = None,
                max_tokens: int | None = None,
                extra_body: dict[str, Any] | None = None) -> Iterator[str]:
    """Yield the answer's text chunks as the server produces them (at most `max_tokens`;
    `extra_body` adds request fields such as a `response_format`)."""
    chat = backend.chat_model()
    if run is not None:
        run.model = backend.model
    with llm_errors(backend.base_url):
        for chunk in chat.stream(list(messages), **limit_kwargs(chat, max_tokens, extra_body)):
            text = _text(chunk.content)
            if text:
                yield text


def generate(backend: LLMBackend, messages: Sequence[Any], run: ToolRun | None = None,
             on_chunk: ChunkSink | None = None, max_tokens: int | None = None,
             extra_body: dict[str, Any] | None = None) -> str:
    """The whole answer text; `on_chunk` sees each chunk as it arrives (for streaming UIs)."""
    parts: list[str] = []
    for text in stream_text(backend, messages, run, max_tokens, extra_body):
        parts.append(text)
        if on_chunk is not None:
            on_chunk(text)
    answer = "".join(parts).strip()
    log.debug("generated %d chars", len(answer))
    return answer


def repair_turn(conversation: Sequence[BaseMessage], prompt_name: str, parts: Sequence[str],
                ids: Sequence[str], backend: LLMBackend, run: ToolRun, **values: Any
                ) -> tuple[list[BaseMessage], dict[str, Any] | None]:
    """`conversation` (ending with the model's answer) continued by the follow-up prompt
    `prompt_name` listing the refused `parts` (numbered; angle brackets neutralised, as a part
    may quote a review), and the `extra_body` asking for exactly one replacement claim per
    part, citing only `ids`. A continued conversation keeps the server's prompt cache."""
    listing = "\n".join(f"{n}. {part}" for n, part in enumerate(parts, start=1))
    prompt = load_prompt(prompt_name)
    run.use_prompt(prompt.ref)
    turn = prompt.render(**values, parts=listing.replace("<", "‹").replace(">", "›"),
                         count=len(parts))
    shape = schema_format(str(getattr(backend, "structured_mode", "")),
                          repair_schema(ids, len(parts)))
    return ([*conversation, *(HumanMessage(text) for _, text in turn)],
            {"response_format": shape} if shape else None)
