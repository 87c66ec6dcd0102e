"""The command line's log records go to stderr, so `--json` output on stdout stays parseable."""

from __future__ import annotations

import logging

import pytest

from insight.logging_setup import configure_logging


@pytest.fixture
def bare_root_logger():
    """The root logger, its handlers and level restored after the test."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    yield root
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_log_records_go_to_stderr_not_stdout(bare_root_logger, capsys):
    bare_root_logger.handlers.clear()  # pytest adds its capture handler for the call phase
    configure_logging("INFO")
    logging.getLogger("insight.example").warning("starting llama.cpp server")
    captured = capsys.readouterr()
    assert "starting llama.cpp server" in captured.err
    assert captured.out == ""
