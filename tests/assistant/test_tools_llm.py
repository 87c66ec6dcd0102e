"""Integration tests with the real embedded model (marked `llm`; each well under 60 s)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from assistant.grounding import check_answer
from assistant.tools.ask import ask
from assistant.tools.summary import user_summary
from core.settings import get_settings
from tests.assistant.toolkit import sample_con, sample_ws

__all__ = ["sample_con", "sample_ws"]

pytestmark = [pytest.mark.llm, pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")]


@pytest.fixture(scope="module")
def backend() -> Iterator[Any]:
    """The embedded llama.cpp backend, started once for this module."""
    from assistant.llm.backends import EmbeddedBackend

    settings = get_settings().llm
    if settings.backend != "embedded":
        pytest.skip("these tests exercise the embedded backend")
    with EmbeddedBackend(settings, progress=False) as started:
        yield started


def test_ask_with_real_model(sample_con: duckdb.DuckDBPyConnection, backend: Any) -> None:
    result = ask("Which brand has the highest revenue in rees46?", sample_con, backend,
                 shortcut=False)  # the model drafts even what code reads with certainty
    assert result.plan_source in ("llm", "llm+hints")  # the model produced a valid draft
    assert result.answerable and "apple" in result.answer
    assert result.grounding["ok"]  # latency is measured by `insight eval`, not asserted


def test_summary_with_real_model(sample_con: duckdb.DuckDBPyConnection, backend: Any) -> None:
    result = user_summary("ADH0O8UVJOT10", "musical_instruments", con=sample_con,
                          backend=backend, n_reviews=3)
    assert result.status in ("ok", "partial", "fallback")
    if result.status != "fallback":
        assert result.claims and all(c["verified"] for c in result.claims)
    report = check_answer(result.summary, {"facts": result.facts, "reviews": result.reviews},
                          {"F": set(result.facts), "R": {r["review_id"] for r in result.reviews},
                           "I": set(), "U": {"ADH0O8UVJOT10"}})
    assert not [v for v in report.violations if v.kind == "citation"]
