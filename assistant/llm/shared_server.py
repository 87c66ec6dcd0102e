"""One embedded server for many commands: `insight llm serve` announces itself, others reuse it.

Starting llama.cpp and loading the 1 GB model takes seconds that a one-shot `insight ask` would
pay on every call. `insight llm serve` writes a small JSON file next to the model file (its URL,
pid and model alias); `EmbeddedBackend` reads it and, when that process is alive and answers
`/v1/models` for the same model, talks to it instead of starting its own. A stale file (the
process is gone) is removed by whoever finds it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

import httpx

from store.files import atomic_write_text

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0


def discovery_path(model_path: Path) -> Path:
    """Where the server of `model_path` announces itself."""
    return model_path.with_name(model_path.name + ".server.json")


def announce(model_path: Path, base_url: str, model_alias: str | None, pid: int) -> Path:
    """Record that a server for `model_path` answers at `base_url` (process `pid`)."""
    path = discovery_path(model_path)
    atomic_write_text(path, json.dumps({"base_url": base_url, "pid": pid,
                                        "model_alias": model_alias}))
    return path


def withdraw(model_path: Path, pid: int) -> None:
    """Remove the announcement if it is still the one process `pid` wrote."""
    path = discovery_path(model_path)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_running(model_path: Path, model_alias: str | None) -> str | None:
    """The base URL of a live server announced for `model_path` serving `model_alias`, else
    None (a stale announcement is removed)."""
    path = discovery_path(model_path)
    try:
        info = json.loads(path.read_text())
        base_url, pid = str(info["base_url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    try:
        served = httpx.get(f"{base_url}/models", timeout=PROBE_TIMEOUT_S).json()
    except (httpx.HTTPError, ValueError):
        return None
    names = {str(m.get("id")) for m in served.get("data", []) if isinstance(m, dict)}
    if model_alias and names and model_alias not in names:
        log.info("server at %s serves %s, not %s; starting our own", base_url, names,
                 model_alias)
        return None
    log.info("reusing the embedded server at %s (pid %d)", base_url, pid)
    return base_url
