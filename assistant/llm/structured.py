"""Structured answers: one call that returns a validated pydantic object on any backend.

The request form depends on what the server accepts:

* `json_schema` (vLLM, OpenAI): `response_format={"type": "json_schema", ...}`;
* `json_object` (llama.cpp, whose server answers HTTP 500 to json_schema):
  `response_format={"type": "json_object", "schema": {...}}`, enforced by a grammar;
* `function_calling`: one forced tool whose parameters are the schema.

The answer is validated with pydantic. A malformed answer is retried once with the validation
error shown to the model; a second failure raises `StructuredOutputError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import convert_to_messages
from pydantic import BaseModel, ValidationError

from assistant.llm.backends import LLMBackend, StructuredMode
from assistant.llm.errors import StructuredOutputError
from assistant.llm.invoke import call_model

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

RAW_PREVIEW = 300


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _with_instruction(messages: list[BaseMessage], schema: dict[str, Any]) -> list[BaseMessage]:
    """Tell the model the schema in the system message (grammar alone gives no field meaning)."""
    note = ("Answer with one JSON object only, no prose, that matches this JSON schema:\n"
            + json.dumps(schema, sort_keys=True))
    if messages and isinstance(messages[0], SystemMessage):
        first = messages[0]
        return [SystemMessage(f"{first.content}\n\n{note}"), *messages[1:]]
    return [SystemMessage(note), *messages]


def request_kwargs(mode: StructuredMode, model: type[BaseModel]) -> dict[str, Any]:
    """The extra request arguments for one structured-output form."""
    schema = _schema(model)
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": model.__name__, "schema": schema, "strict": False}}}
    if mode == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    raise ValueError(f"no response_format for mode {mode!r}")


def _raw_answer(message: AIMessage) -> str:
    """The JSON text of an answer: a tool call's arguments, or the message content."""
    if message.tool_calls:
        return json.dumps(message.tool_calls[0]["args"])
    if message.invalid_tool_calls:
        return str(message.invalid_tool_calls[0].get("args") or "")
    content = message.content
    if isinstance(content, list):
        content = "".join(part if isinstance(part, str) else str(part.get("text", ""))
                          for part in content)
    return str(content).strip()


def _strip_fences(text: str) -> str:
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def _ask(backend: LLMBackend, messages: list[BaseMessage], mode: StructuredMode,
         model: type[BaseModel]) -> str:
    chat = backend.chat_model()
    if mode == "function_calling":
        bound = chat.bind_tools([model], tool_choice=model.__name__)
        return _raw_answer(call_model(bound, messages, backend.base_url))
    return _raw_answer(call_model(chat, messages, backend.base_url,
                                  **request_kwargs(mode, model)))


def structured(backend: LLMBackend, messages: Sequence[Any], model: type[T], *,
               mode: StructuredMode | None = None) -> T:
    """Ask the backend for an answer shaped as `model`; validate it; retry once if malformed."""
    mode = mode or backend.structured_mode
    conversation = convert_to_messages(list(messages))
    if mode != "function_calling":
        conversation = _with_instruction(conversation, _schema(model))
    errors: list[str] = []
    for attempt in (1, 2):
        raw = _ask(backend, conversation, mode, model)
        try:
            return model.model_validate_json(_strip_fences(raw))
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                                for e in exc.errors()[:5])
        errors.append(f"attempt {attempt}: {problem} (answer began {raw[:RAW_PREVIEW]!r})")
        log.warning("structured output from %s did not validate as %s: %s",
                    backend.base_url, model.__name__, problem)
        conversation = [*conversation, AIMessage(raw[:4000]), HumanMessage(
            f"That answer is not valid: {problem}. Reply again with only the corrected JSON "
            "object.")]
    raise StructuredOutputError(
        f"the model at {backend.base_url} ({backend.model}, mode {mode}) gave no valid "
        f"{model.__name__} after 2 attempts: " + " | ".join(errors))
