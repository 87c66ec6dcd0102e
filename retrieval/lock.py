"""A single-writer lock for the index (flock, released when the process dies)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from store.files import exclusive_lock


@contextlib.contextmanager
def index_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`; a second writer fails at once with a clear error."""
    busy = "another `insight index` is writing this index; wait for it to finish"
    with exclusive_lock(path, 0, busy):
        yield
