"""Errors of the LLM layer, each with a message a person can act on."""

from __future__ import annotations


class LLMError(Exception):
    """Any failure to get a usable answer from the language model."""


class LLMUnavailable(LLMError):
    """The LLM server is down, unreachable, or too slow; the message names its URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"LLM server at {url} is unavailable: {reason}")
        self.url = url
        self.reason = reason


class StructuredOutputError(LLMError):
    """The model's answer did not parse into the requested schema, even after one retry."""


class ModelFileError(LLMError):
    """The embedded model file is missing, or its parts do not assemble to the expected hash."""
