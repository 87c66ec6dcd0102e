"""Shared fixtures: where the real data lives, and helpers to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("INSIGHT_SHARED_DATA", REPO.parent / "shared" / "data"))
SAMPLE = REPO / "store" / "samples" / "data"


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test when the shared data is not mounted."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared dataset not present: {path}")
    return path


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `insight ARGS…` in a subprocess, as a user would."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "insight", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, check=False,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh, not yet created workspace directory."""
    return tmp_path / "ws"
