"""Markers for the assistant tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register the `llm` marker (tests that start the real embedded model)."""
    config.addinivalue_line("markers", "llm: starts the real embedded llama.cpp model")
