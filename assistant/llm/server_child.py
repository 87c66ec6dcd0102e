"""Entry point of the llama.cpp server child: runs `llama_cpp.server`, dies with its parent.

The parent passes its pid in `INSIGHT_PARENT_PID`; a watchdog thread exits the child as soon as
it is re-parented (the parent was killed, even with SIGKILL, so its atexit hook never ran).
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time

PARENT_ENV = "INSIGHT_PARENT_PID"


def _watch(parent: int, interval_s: float = 1.0) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(interval_s)


def main() -> None:
    """Start the watchdog, then hand over to llama-cpp-python's server `__main__`."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if parent:
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
