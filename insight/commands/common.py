"""Pieces every command shares: the workspace option and the one error guard.

Exit codes: 2 bad input, 3 workspace, 4 LLM unavailable or failing, 130 interrupted; each with
one line on stderr, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from assistant.llm.errors import LLMError
from core.errors import InputError, WorkspaceError
from core.settings import get_settings

T = TypeVar("T")
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace directory [env INSIGHT_WORKSPACE]."),
]


def workspace_path(path: Path | None) -> Path:
    """The workspace given on the command line, else the configured one."""
    return path if path is not None else get_settings().workspace


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit with `code` (2 bad input, 3 workspace, 4 service)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run_guarded(action: Callable[[], T]) -> T:
    """Run `action`; expected errors become one line and an exit code, never a traceback."""
    try:
        return action()
    except InputError as exc:
        fail(str(exc), 2)
    except WorkspaceError as exc:
        fail(str(exc), 3)
    except LLMError as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 4)
    except KeyboardInterrupt:
        fail("interrupted; stored data is unchanged", 130)
    raise AssertionError("unreachable")  # pragma: no cover
