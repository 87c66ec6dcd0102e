"""Entry point of the llama.cpp server child: runs `llama_cpp.server`, dies with its parent.

Before handing over it loads the CPU backend variant, unless `INSIGHT_LAZY_GRAMMAR=0` the
lazy grammar sampler (`assistant.llm.lazy_grammar`), and with `INSIGHT_CONTEXTS` above 1 a pool
of contexts (`assistant.llm.context_pool`); with a draft model, logits kept for draft checks
only (`assistant.llm.prompt_lookup`).

The parent passes its pid in `INSIGHT_PARENT_PID`; a watchdog thread exits the child as soon as
it is re-parented (the parent was killed, even with SIGKILL, so its atexit hook never ran).
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
import threading
import time
from pathlib import Path

from assistant.llm import context_pool, cpu_backend, lazy_grammar, prompt_lookup

PARENT_ENV = "INSIGHT_PARENT_PID"
CPU_VARIANT_ENV = "INSIGHT_CPU_VARIANT"
LAZY_GRAMMAR_ENV = "INSIGHT_LAZY_GRAMMAR"
CONTEXTS_ENV = "INSIGHT_CONTEXTS"


def _watch(parent: int, interval_s: float = 1.0) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(interval_s)


def _model_argument(argv: list[str]) -> Path | None:
    """The `--model PATH` the parent passed (used to probe a CPU variant before loading)."""
    if "--model" in argv and argv.index("--model") + 1 < len(argv):
        return Path(argv[argv.index("--model") + 1])
    return None


def main() -> None:
    """Start the watchdog, load the CPU backend variant, then hand over to llama-cpp-python's
    server `__main__`."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if parent:
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cpu_backend.prepare(_model_argument(sys.argv), os.environ.get(CPU_VARIANT_ENV, "auto"))
    if os.environ.get(LAZY_GRAMMAR_ENV, "1") == "1":
        lazy_grammar.install()
    context_pool.install(int(os.environ.get(CONTEXTS_ENV, "1") or 1))
    if "--draft_model" in sys.argv:
        prompt_lookup.install()
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
