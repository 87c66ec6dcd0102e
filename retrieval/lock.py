"""A single-writer file lock for the index (flock, released when the process dies)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from core.errors import WorkspaceError


@contextlib.contextmanager
def index_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on `path`; a second writer fails at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise WorkspaceError(
                f"another `insight index` is writing this index (lock {path}); "
                "wait for it to finish") from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
