"""The `insight` command line: ingest data, show stats (later: train, score, ask, serve)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import InputError
from core.settings import get_settings
from insight.commands.common import WorkspaceOpt, run_guarded, workspace_path
from insight.logging_setup import configure_logging

app = typer.Typer(
    name="insight",
    help="behavior-insight: turn behavior logs and reviews into answers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(width=None if sys.stdout.isatty() else 160)
@app.callback()
def main(
    log_level: Annotated[str | None, typer.Option(help="Log level (INFO, DEBUG…).")] = None,
) -> None:
    """behavior-insight command line."""
    configure_logging(log_level or get_settings().log_level)


def _parse_pairs(pairs: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise InputError(f"bad {flag} {pair!r}: write NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


@app.command()
def ingest(
    kind: Annotated[str, typer.Argument(help="amazon | s3rec | taobao | rees46 | generic")],
    path: Annotated[Path, typer.Argument(help="Raw file to ingest.")],
    workspace: WorkspaceOpt = None,
    source: Annotated[str | None, typer.Option(help="Source name (default: from file name).")]
    = None,
    replace: Annotated[bool, typer.Option(help="Replace the source instead of adding.")] = False,
    items: Annotated[Path | None, typer.Option(help="Item metadata file (amazon, s3rec).")]
    = None,
    mapping: Annotated[Path | None, typer.Option("--map", help="YAML column mapping (generic).")]
    = None,
    col: Annotated[list[str] | None, typer.Option(help="canonical=column (generic).")] = None,
    event_map: Annotated[list[str] | None, typer.Option(help="raw=canonical event type.")]
    = None,
    event_type: Annotated[str | None, typer.Option(help="Event type for every row (generic).")]
    = None,
    ts_format: Annotated[str | None, typer.Option(help="iso|unix_s|unix_ms|strptime (generic).")]
    = None,
    table: Annotated[str | None, typer.Option(help="events|items|reviews (generic).")] = None,
    file_format: Annotated[str | None, typer.Option("--format", help="csv|parquet|jsonl.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Ingest a raw file into the workspace (re-ingesting the same file is a no-op)."""
    from store.ingest import ingest as run_ingest
    from store.loaders.base import parse_event_map

    def action() -> Any:
        options: dict[str, Any] = {
            "items": items,
            "map": mapping,
            "columns": _parse_pairs(col or [], "--col"),
            "event_map": parse_event_map(event_map or []),
            "event_type": event_type,
            "ts_format": ts_format,
            "table": table,
            "format": file_format,
            "block_size": get_settings().ingest.block_size_bytes,
        }
        return run_ingest(kind, path, workspace_path(workspace), source=source, replace=replace,
                          options=options)

    result = run_guarded(action)
    if as_json:
        print(json.dumps(result.__dict__, indent=2))
        return
    if result.skipped:
        console.print(f"[yellow]unchanged:[/] {result.notes[0]}")
        return
    rows = ", ".join(f"{n:,} {t}" for t, n in sorted(result.rows.items()))
    dups = f"; {result.duplicates_dropped:,} duplicate rows dropped" if \
        result.duplicates_dropped else ""
    console.print(f"[green]ingested[/] {path} → source [bold]{result.source}[/]: {rows}{dups} "
                  f"({result.seconds:.1f}s)")


@app.command()
def sample(workspace: WorkspaceOpt = None) -> None:
    """Ingest the bundled real-data sample (store/samples/data) into the workspace."""
    from store.sample import ingest_sample

    results = run_guarded(lambda: ingest_sample(workspace_path(workspace)))
    for result in results:
        state = "unchanged" if result.skipped else "ingested"
        rows = ", ".join(f"{n:,} {t}" for t, n in sorted(result.rows.items()))
        console.print(f"{state}: {result.source} {rows}")


@app.command()
def stats(
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
) -> None:
    """Per-source users, items, events by type, reviews, time range, events per user."""
    from store.stats import workspace_stats
    from store.workspace import Workspace

    def action() -> dict[str, Any]:
        figures = workspace_stats(Workspace.open(workspace_path(workspace)))
        if source is not None:
            if source not in figures:
                raise InputError(f"unknown source {source!r}; known: {', '.join(figures)}")
            figures = {source: figures[source]}
        return figures

    figures = run_guarded(action)
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    table = Table(title=f"workspace {workspace_path(workspace)}")
    for column in ("source", "kind", "users", "items", "events", "by type", "reviews",
                   "time range", "mean/median ev/user"):
        table.add_column(column)
    for name, s in figures.items():
        by_type = "\n".join(f"{k} {v:,}" for k, v in s["events_by_type"].items())
        span = "untimed" if s["untimed"] else (
            f"{s['time_range']['first'][:10]} … {s['time_range']['last'][:10]}"
            if s["time_range"] else "-")
        mean = s["mean_events_per_user"]
        table.add_row(name, s["kind"], f"{s['users']:,}", f"{s['items']:,}", f"{s['events']:,}",
                      by_type, f"{s['reviews']:,}", span,
                      f"{mean:.2f} / {s['median_events_per_user']:g}" if mean else "-")
    console.print(table)


@app.command()
def sources(workspace: WorkspaceOpt = None) -> None:
    """List the sources in the workspace and the files they came from."""
    from store.workspace import Workspace

    ws = run_guarded(lambda: Workspace.open(workspace_path(workspace)))
    for name, meta in sorted(ws.sources.items()):
        console.print(f"[bold]{name}[/] ({meta['kind']})")
        for record in meta["files"]:
            console.print(f"  {record['path']}  sha256={record['sha256'][:12]}…  "
                          f"{record['ingested_at']}")


@app.command()
def remove(
    source: Annotated[str, typer.Argument(help="Source to drop.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Remove a source and its files from the workspace."""
    from store.workspace import Workspace

    def action() -> None:
        ws = Workspace.open(workspace_path(workspace))
        with ws.lock():
            ws.remove_source(source)

    run_guarded(action)
    console.print(f"removed source {source}")


def _register_commands() -> None:
    from insight.commands import (
        api_cmds,
        assistant_cmds,
        audience_cmds,
        doctor_cmds,
        predict_cmds,
        serve_cmds,
        tool_cmds,
    )

    for module in (predict_cmds, doctor_cmds, assistant_cmds, tool_cmds, serve_cmds, api_cmds,
                   audience_cmds):
        module.register(app)


_register_commands()


def run() -> None:  # pragma: no cover - console entry point helper
    """Entry point that never shows a traceback for expected errors."""
    sys.exit(app())
