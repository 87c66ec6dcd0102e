"""`insight doctor`: check the installation, print a table, exit 1 when any check fails.

After the table each failure is repeated as one plain line, `FAIL <check>: <reason>`, for logs
and CI. `--json` prints `{"ok": bool, "checks": [...]}` on stdout instead (the FAIL lines then
go to stderr).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.settings import get_settings
from insight.commands.common import WorkspaceOpt, fail, workspace_path
from insight.doctor import CHECK_NAMES, CheckResult, DoctorOptions, run_checks

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

STYLES = {"OK": "green", "FAIL": "bold red", "SKIP": "yellow"}


def failure_lines(results: list[CheckResult]) -> list[str]:
    """One plain line per failed check: `FAIL <check>: <reason>` (newlines collapsed)."""
    return [f"FAIL {r.check}: {' '.join(r.detail.split())}" for r in results if r.failed]


def _table(results: list[CheckResult]) -> Table:
    table = Table(title="insight doctor")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("s", justify="right", no_wrap=True)
    for r in results:
        table.add_row(r.check, f"[{STYLES[r.status]}]{r.status}[/]", escape(r.detail),
                      f"{r.seconds:.1f}")
    return table


def doctor(
    workspace: WorkspaceOpt = None,
    lock: Annotated[Path | None, typer.Option(
        help="pip-compile lock to compare versions with (default: requirements/lock.txt).")]
    = None,
    skip_llm: Annotated[bool, typer.Option(
        "--skip-llm", help="Skip the model file and LLM checks (quick run).")] = False,
    browser: Annotated[bool, typer.Option(
        "--browser", help="Fail (not skip) when chromium for the browser tests is missing.")]
    = False,
    check: Annotated[list[str] | None, typer.Option(
        help=f"Run only this check (repeatable): {', '.join(CHECK_NAMES)}.")] = None,
    llm_timeout: Annotated[float, typer.Option(
        help="Seconds allowed for the LLM to start, and for each answer.")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")]
    = False,
) -> None:
    """Check that this installation works; exit 1 if any check fails.

    Python and key package versions against the lock, torch's device, the model file, the
    embedded LLM, the offline embedder, Chroma, the workspace, and chromium.
    """
    unknown = sorted(set(check or []) - set(CHECK_NAMES))
    if unknown:
        fail(f"unknown check {', '.join(unknown)}; known: {', '.join(CHECK_NAMES)}", 2)
    options = DoctorOptions(settings=get_settings(), workspace=workspace_path(workspace),
                            lock=lock, skip_llm=skip_llm, browser=browser,
                            llm_timeout_s=llm_timeout)
    if as_json:
        results = run_checks(options, only=check)
    else:
        with err_console.status("checking…") as status:
            results = run_checks(options, only=check,
                                 on_start=lambda name: status.update(f"checking {name}…"))
    lines = failure_lines(results)
    if as_json:
        print(json.dumps({"ok": not lines, "checks": [r.to_dict() for r in results]},
                         indent=2))
        for line in lines:
            print(line, file=sys.stderr)
    else:
        console.print(_table(results))
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if lines:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `doctor` to the main `insight` app."""
    app.command("doctor")(doctor)
