"""Logging configuration for the command line (library modules only create loggers)."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr through rich, once per process."""
    root = logging.getLogger()
    if any(isinstance(h, RichHandler) for h in root.handlers):
        root.setLevel(level.upper())
        return
    # rich's default console is stdout: logs there would corrupt `--json` output
    handler = RichHandler(console=Console(stderr=True), show_path=False,
                          rich_tracebacks=False, markup=False)
    logging.basicConfig(level=level.upper(), format="%(message)s", handlers=[handler])
