"""Run a tool that reports text chunks in a worker thread and stream its progress.

The views call the assistant's tools, which take an `on_chunk` callback; `stream_tool` runs the
tool in a thread and yields the text so far at most every `interval_s`, then the result, so a
Gradio generator handler streams without holding the event loop (handlers already run in
Gradio's worker threads; the LLM call never runs on the loop).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class Progress(Generic[T]):
    """The text streamed so far and, at the end, the tool's result."""

    text: str
    result: T | None = None
    done: bool = False


def stream_tool(call: Callable[[Callable[[str], None]], T],
                interval_s: float = 0.3) -> Iterator[Progress[T]]:
    """Yield `Progress` while `call(on_chunk)` runs; re-raise its exception at the end."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def worker() -> None:
        try:
            events.put(("result", call(lambda chunk: events.put(("chunk", chunk)))))
        except BaseException as exc:  # handed to the caller's thread
            events.put(("error", exc))

    threading.Thread(target=worker, daemon=True, name="ui-tool").start()
    text = ""
    last = 0.0
    while True:
        kind, payload = events.get()
        if kind == "chunk":
            text += str(payload)
            if time.monotonic() - last >= interval_s:
                last = time.monotonic()
                yield Progress(text)
            continue
        if kind == "error":
            raise payload
        yield Progress(text, payload, done=True)
        return
