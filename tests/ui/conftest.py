"""Markers for the UI tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register `browser` (drives chromium) and `llm` (starts the embedded model)."""
    config.addinivalue_line("markers", "browser: drives the app in headless chromium")
    config.addinivalue_line("markers", "llm: starts the real embedded llama.cpp model")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the test item (a failing browser test saves a screenshot)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
