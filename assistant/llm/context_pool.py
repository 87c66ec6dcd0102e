"""Several llama.cpp contexts behind one embedded server, so each kind of prompt keeps its cache.

A llama.cpp context reuses the longest prefix of the previous prompt it evaluated. The prose
tools interleave (a customer's summary, then their persona, then an explanation), and each has
its own long fixed instructions, so with one context every call re-reads its instructions from
scratch. `ContextPool` holds `n` contexts of the same model file (the weights are mapped once
by the OS) and sends each request to the context whose last prompt shares the longest start
with it — the same idea as llama.cpp server's slots with prompt similarity. A request that
shares little with every context goes to the least recently used one.

Contexts are opened as they are first needed (a one-shot CLI call opens one), up to `n`.
`install(n)` makes llama-cpp-python's server build a pool instead of a single `Llama`; the
server child calls it when `llm.embedded.contexts` is above 1. Requests are already served one
at a time by the server, so the pool needs no lock of its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

MIN_SHARED_CHARS = 64
"""A context is reused for a request only when their prompts share at least this many leading
characters; otherwise the least recently used context takes it."""


def shared_start(a: str, b: str) -> int:
    """The number of leading characters `a` and `b` have in common."""
    common = os.path.commonprefix([a, b])
    return len(common)


def prompt_key(kwargs: dict[str, Any]) -> str:
    """The text a request's prompt is built from, in order: every chat message's role and
    content, or the completion prompt."""
    messages = kwargs.get("messages")
    if messages is None:
        prompt = kwargs.get("prompt", "")
        return prompt if isinstance(prompt, str) else repr(prompt)
    parts = []
    for message in messages:
        get = message.get if isinstance(message, dict) else lambda k, m=message: getattr(m, k,
                                                                                           "")
        parts.append(f"<{get('role')}>{get('content')}")
    return "".join(parts)


class ContextPool:
    """`n` llama.cpp contexts answering as one `Llama` (see the module docstring).

    Completion calls go to the best-matching context; every other attribute (tokenize,
    metadata, …) is the first context's.
    """

    def __init__(self, contexts: Sequence[Any], open_context: Callable[[], Any] | None = None,
                 size: int | None = None) -> None:
        if not contexts:
            raise ValueError("a context pool needs at least one context")
        self._contexts = list(contexts)
        self._open = open_context
        self._size = max(size or len(self._contexts), len(self._contexts))
        self._last_prompt = [""] * len(self._contexts)
        self._last_used = [0] * len(self._contexts)
        self._clock = 0

    def choose(self, key: str) -> int:
        """The index of the context to serve a prompt built from `key` (and mark it used): the
        one sharing the longest start, else a newly opened one while the pool has room, else
        the least recently used."""
        shared = [shared_start(key, last) for last in self._last_prompt]
        best = max(range(len(shared)), key=lambda i: (shared[i], self._last_used[i]))
        if shared[best] < MIN_SHARED_CHARS and self._last_prompt[best]:
            if self._open is not None and len(self._contexts) < self._size:
                self._contexts.append(self._open())
                self._last_prompt.append("")
                self._last_used.append(0)
                log.info("opened llama.cpp context %d of %d", len(self._contexts), self._size)
            best = min(range(len(self._contexts)), key=lambda i: self._last_used[i])
        self._clock += 1
        self._last_used[best] = self._clock
        self._last_prompt[best] = key
        log.debug("context %d of %d serves the prompt", best, len(self._contexts))
        return best

    def create_chat_completion(self, **kwargs: Any) -> Any:
        """`Llama.create_chat_completion` on the best-matching context."""
        return self._contexts[self.choose(prompt_key(kwargs))].create_chat_completion(**kwargs)

    def create_completion(self, *args: Any, **kwargs: Any) -> Any:
        """`Llama.create_completion` on the best-matching context."""
        if args:
            kwargs = {"prompt": args[0], **kwargs}
        return self._contexts[self.choose(prompt_key(kwargs))].create_completion(**kwargs)

    __call__ = create_completion

    def close(self) -> None:
        """Free every context."""
        for context in self._contexts:
            context.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._contexts[0], name)


def install(n: int) -> None:
    """Make llama-cpp-python's server load `n` contexts of its model as a `ContextPool`."""
    if n <= 1:
        return
    from llama_cpp.server import model as server_model

    proxy = server_model.LlamaProxy
    original: Callable[..., Any] = proxy.load_llama_from_model_settings
    if getattr(original, "context_pool", False):
        return

    def load(settings: Any) -> ContextPool:
        return ContextPool([original(settings)], lambda: original(settings), n)

    load.context_pool = True  # type: ignore[attr-defined]
    proxy.load_llama_from_model_settings = staticmethod(load)  # type: ignore[method-assign]
    log.info("the server keeps %d contexts, each request on the one sharing its prompt", n)
