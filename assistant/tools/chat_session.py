"""A conversation kept across chat turns: the history the router sees and the last data plan.

The app keeps these in the browser session; `insight chat` keeps them in memory for an
interactive session, or in a JSON file (`--session PATH`) so that separate one-shot calls
continue one conversation ("how many purchases in taobao in december?" then "and november?").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from store.files import atomic_write_text

MAX_TURNS = 20
"""Turns kept (older ones are dropped: the router only reads the last few)."""


@dataclass
class ChatSession:
    """The (user, assistant) turns so far and the plan of the latest data answer."""

    history: list[tuple[str, str]] = field(default_factory=list)
    last_plan: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: Path | None) -> ChatSession:
        """The session saved at `path`; a new one when `path` is None or does not exist yet."""
        if path is None or not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            history = [(str(u), str(a)) for u, a in data.get("history", [])]
        except (ValueError, TypeError, AttributeError) as exc:
            raise InputError(f"chat session file {path} is not a saved session: {exc}") from exc
        plan = data.get("last_plan")
        return cls(history=history, last_plan=plan if isinstance(plan, dict) else None)

    def save(self, path: Path | None) -> None:
        """Write the session to `path` atomically (nothing when `path` is None)."""
        if path is None:
            return
        atomic_write_text(path, json.dumps({"history": self.history[-MAX_TURNS:],
                                            "last_plan": self.last_plan}, default=str))

    def record(self, message: str, answer: str, result: dict[str, Any] | None) -> None:
        """Add a turn; a data answer's plan becomes the one follow-ups build on."""
        self.history = [*self.history, (message, answer)][-MAX_TURNS:]
        plan = (result or {}).get("plan")
        if isinstance(plan, dict) and (result or {}).get("answerable", True):
            self.last_plan = plan
