"""What every tool result records: prompt refs, model, latency and a step-by-step trace.

The UI draws the trace as a list of steps (title, status, duration); the CLI prints it with
`--json`. Timings use a monotonic clock; `first_token_s` is the time until the first chunk of
the answer text was available.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StepStatus = Literal["ok", "error", "skipped", "fallback"]


@dataclass
class TraceStep:
    """One step of a tool run: what it did, how it went, how long it took."""

    title: str
    status: StepStatus = "ok"
    duration_s: float = 0.0
    detail: str = ""


@dataclass
class ToolRun:
    """Provenance of one tool answer; filled while the tool runs."""

    tool: str
    model: str | None = None
    prompt_refs: list[str] = field(default_factory=list)
    steps: list[TraceStep] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    latency_s: float = 0.0
    first_token_s: float | None = None

    @contextmanager
    def step(self, title: str) -> Iterator[TraceStep]:
        """Time a step; an exception marks it `error` (and propagates)."""
        record = TraceStep(title=title)
        self.steps.append(record)
        begin = time.perf_counter()
        try:
            yield record
        except BaseException as exc:
            record.status = "error"
            record.detail = record.detail or f"{type(exc).__name__}: {exc}"[:300]
            raise
        finally:
            record.duration_s = round(time.perf_counter() - begin, 3)

    def use_prompt(self, ref: str) -> None:
        """Record a prompt `name@version` (once)."""
        if ref not in self.prompt_refs:
            self.prompt_refs.append(ref)

    def mark_first_token(self) -> None:
        """Record the time to the first answer chunk (only the first call counts)."""
        if self.first_token_s is None:
            self.first_token_s = round(time.perf_counter() - self.started, 3)

    def finish(self) -> ToolRun:
        """Stop the clock."""
        self.latency_s = round(time.perf_counter() - self.started, 3)
        if self.first_token_s is None:
            self.first_token_s = self.latency_s
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (without the internal start time)."""
        data = asdict(self)
        data.pop("started", None)
        return data
