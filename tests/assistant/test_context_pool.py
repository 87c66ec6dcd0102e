"""The embedded server's context pool: each request goes to the context whose last prompt
shares the longest start with it, a new kind of prompt to the least recently used one."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.llm.context_pool import ContextPool, prompt_key


class Recorder:
    """Stands in for one `Llama`: records the prompts it was asked to complete."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.prompts: list[str] = []
        self.closed = False

    def create_chat_completion(self, **kwargs: Any) -> str:
        self.prompts.append(prompt_key(kwargs))
        return self.name

    def create_completion(self, **kwargs: Any) -> str:
        self.prompts.append(kwargs["prompt"])
        return self.name

    def tokenize(self, text: bytes) -> list[int]:
        return list(text)

    def close(self) -> None:
        self.closed = True


def _chat(system: str, user: str) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": system},
                         {"role": "user", "content": user}], "temperature": 0.0}


SUMMARY = "You brief a customer-service agent about one customer. " * 4
PERSONA = "You write a short persona of one shopper from the facts given. " * 4
EXPLAIN = "You explain why an item is recommended to a user, citing evidence. " * 4


def test_interleaved_tools_keep_their_own_context() -> None:
    contexts = [Recorder("a"), Recorder("b"), Recorder("c")]
    pool = ContextPool(contexts)
    first = [pool.create_chat_completion(**_chat(p, "user 1")) for p in (SUMMARY, PERSONA,
                                                                         EXPLAIN)]
    assert sorted(first) == ["a", "b", "c"]  # three new prompts: three contexts
    again = [pool.create_chat_completion(**_chat(p, "user 2")) for p in (SUMMARY, PERSONA,
                                                                         EXPLAIN)]
    assert again == first  # each tool back on the context that holds its instructions
    # a fourth kind of prompt takes the least recently used context
    assert pool.create_completion("Plan the SQL for this question: " * 4) == first[0]
    assert pool.create_chat_completion(**_chat(PERSONA, "user 3")) == first[1]


def test_contexts_are_opened_when_first_needed() -> None:
    opened: list[Recorder] = []

    def open_context() -> Recorder:
        opened.append(Recorder(f"new{len(opened)}"))
        return opened[-1]

    pool = ContextPool([Recorder("first")], open_context, size=2)
    assert pool.create_chat_completion(**_chat(SUMMARY, "user 1")) == "first"
    assert pool.create_chat_completion(**_chat(SUMMARY, "user 2")) == "first" and not opened
    assert pool.create_chat_completion(**_chat(PERSONA, "user 1")) == "new0"
    # the pool is full: a third kind of prompt takes the least recently used context
    assert pool.create_chat_completion(**_chat(EXPLAIN, "user 1")) == "first"
    assert len(opened) == 1


def test_other_attributes_are_the_first_contexts_and_close_frees_all() -> None:
    contexts = [Recorder("a"), Recorder("b")]
    pool = ContextPool(contexts)
    assert pool.tokenize(b"ab") == [97, 98] and pool.name == "a"
    pool.close()
    assert all(c.closed for c in contexts)
    with pytest.raises(ValueError, match="at least one"):
        ContextPool([])
