"""`insight api` (the scoring API over a workspace) and `insight api compact` (fold its log).

`insight api` checks the workspace and the keys before anything starts: a non-loopback
`--host` without API keys is refused with one line, exit 2. `insight api compact` folds the
live events the API received into the workspace's Parquet tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.settings import get_settings
from insight.commands.common import WorkspaceOpt, run_guarded, workspace_path

console = Console()

api_app = typer.Typer(help="The scoring API: live scores and event ingestion over HTTP.",
                      no_args_is_help=False, invoke_without_command=True)


@api_app.callback()
def api_cmd(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default api.host, 127.0.0.1); "
                                             "any other address requires API keys.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default api.port, 8765).")] = None,
) -> None:
    """Serve the scoring API (OpenAPI docs at /docs); Ctrl-C stops it."""
    if ctx.invoked_subcommand is not None:
        return
    from api.auth import check_bind, load_keys
    from api.server import serve

    settings = get_settings()
    root = workspace_path(workspace)
    run_guarded(lambda: _check_workspace(root))
    keys = run_guarded(lambda: load_keys(settings.api))
    bind = host or settings.api.host
    run_guarded(lambda: check_bind(bind, keys))
    shown_port = settings.api.port if port is None else port
    console.print(f"scoring API for {root} at [bold]http://{bind}:{shown_port}[/] (docs at "
                  f"/docs; {'API keys required' if keys.required else 'loopback only'}; "
                  "Ctrl-C stops it)", highlight=False)
    run_guarded(lambda: serve(root, settings.api, bind, port,
                              log_level=settings.log_level.lower()))


def _check_workspace(root: Path) -> None:
    from core.errors import WorkspaceError
    from store.workspace import Workspace

    if not Workspace.open(root).sources:
        raise WorkspaceError(f"workspace {root} is empty; load data first (`insight sample` "
                             "or `insight ingest …`)")


@api_app.command("compact")
def compact_cmd(
    workspace: WorkspaceOpt = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these sources (repeatable).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fold the events the API received (its append log) into the workspace tables."""
    from api.compact import compact

    result = run_guarded(lambda: compact(workspace_path(workspace), source))
    if as_json:
        print(json.dumps(result.sources, indent=2))
        return
    if not result.sources:
        console.print("no live-event log in the workspace; nothing to fold")
    for name, info in result.sources.items():
        console.print(f"{name}: folded {info['events']:,} events (log bytes "
                      f"{info['from_byte']:,}–{info['to_byte']:,})")


def register(app: typer.Typer) -> None:
    """Add `api` (and `api compact`) to the main `insight` app."""
    app.add_typer(api_app, name="api")
