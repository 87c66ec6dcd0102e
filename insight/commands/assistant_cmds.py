"""`insight index` and `insight llm …`: the assistant's retrieval index and its LLM backend.

`register(app)` adds the commands to the main Typer app. Bad input exits 2, workspace problems
exit 3, an unavailable or failing LLM exits 4; each with one line on stderr.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import InputError, WorkspaceError
from core.settings import get_settings
from insight.commands.common import WorkspaceOpt, run_guarded, workspace_path

console = Console()
def index(
    workspace: WorkspaceOpt = None,
    source: Annotated[list[str] | None, typer.Option(
        help="Only this source (repeatable); others are left as they are.")] = None,
    collection: Annotated[list[str] | None, typer.Option(
        help="Only this collection: reviews, items, behavior_summaries (repeatable).")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    engine: Annotated[str, typer.Option(
        help="local: embed in this process; ray: Ray Data actors (docs/scale-out.md).")]
    = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray address for --engine ray: auto, HOST:PORT or ray://…; default: a local Ray.")]
    = None,
    workers: Annotated[int | None, typer.Option(
        help="Embedding actors for --engine ray (default: the cluster's GPUs, else CPUs).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Embed new or changed reviews, items and behavior summaries; drop deleted ones."""
    from retrieval.factory import create_indexer
    from retrieval.store import COLLECTIONS
    from store.workspace import Workspace

    settings = get_settings()
    path = workspace_path(workspace)

    def action() -> Any:
        chosen = list(collection or COLLECTIONS)
        unknown = sorted(set(chosen) - set(COLLECTIONS))
        if unknown:
            raise InputError(f"unknown collection {', '.join(unknown)}; known: "
                             f"{', '.join(COLLECTIONS)}")
        ws = Workspace.open(path)
        con = ws.connect()
        if source:
            known = {r[0] for r in con.execute("SELECT DISTINCT source FROM events "
                                               "UNION SELECT DISTINCT source FROM items")
                     .fetchall()}
            missing = sorted(set(source) - known)
            if missing:
                raise InputError(f"unknown source {', '.join(missing)}; known: "
                                 f"{', '.join(sorted(known))}")
        if engine not in ("local", "ray"):
            raise InputError(f"unknown engine {engine!r}; choose from local, ray")
        if engine == "local":
            indexer = create_indexer(settings.retrieval, Path(path), progress=progress,
                                     mask_pii=settings.privacy.mask_pii)
            return indexer.run(con, sources=source or None, collections=chosen)
        from core.ray_cluster import ray_session
        from retrieval.ray_index import create_ray_indexer

        with ray_session(address):
            indexer = create_ray_indexer(settings.retrieval, Path(path), progress=progress,
                                         mask_pii=settings.privacy.mask_pii, workers=workers)
            return indexer.run(con, sources=source or None, collections=chosen)

    started = time.perf_counter()
    report = run_guarded(action)
    seconds = time.perf_counter() - started
    if as_json:
        print(json.dumps({**report.as_dict(), "seconds": round(seconds, 2)}, indent=2))
        return
    table = Table(title=f"index of {path}")
    for column in ("collection", "embedded", "unchanged", "deleted", "seconds"):
        table.add_column(column, justify="left" if column == "collection" else "right")
    for name, part in report.collections.items():
        table.add_row(name, f"{part.embedded:,}", f"{part.unchanged:,}", f"{part.deleted:,}",
                      f"{part.seconds:.1f}")
    console.print(table)
    console.print(f"embedded {report.embedded:,}, unchanged {report.unchanged:,}, "
                  f"deleted {report.deleted:,} in {seconds:.1f}s")


llm_app = typer.Typer(help="The language model backend (embedded llama.cpp or vLLM).",
                      no_args_is_help=True, add_completion=False)


@llm_app.command("serve")
def llm_serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")]
    = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings; 0 = free).")]
    = None,
) -> None:
    """Run the embedded llama.cpp server in the foreground until Ctrl-C."""
    from assistant.llm.model_file import ensure_model
    from assistant.llm.server import EmbeddedServer
    from assistant.llm.shared_server import announce, withdraw

    cfg = get_settings().llm.embedded

    def action() -> None:
        model = ensure_model(cfg.model_path, cfg.model_sha256, cfg.parts_prefix,
                             cfg.parts_count)
        server = EmbeddedServer.from_settings(model, cfg, host=host or cfg.host,
                                              port=cfg.port if port is None else port)
        with server:
            announce(model, server.base_url, cfg.model_alias, os.getpid())
            console.print(f"serving {cfg.model_alias} at [bold]{server.base_url}[/] "
                          f"(log {server.log_path}); `insight ask`, `chat` and the other "
                          "commands use it while it runs; Ctrl-C stops it")
            try:
                code = server.wait()
            finally:
                withdraw(model, os.getpid())
            if code:
                raise WorkspaceError(f"the llama.cpp server exited with code {code}; "
                                     f"see {server.log_path}")

    run_guarded(action)


@llm_app.command("check")
def llm_check(
    prompt: Annotated[str, typer.Option(help="One-line prompt to send.")]
    = "Reply with the single word: ready",
) -> None:
    """Call the configured backend with a one-line prompt and print the latency."""
    from assistant.llm.backends import create_backend
    from assistant.llm.invoke import check_backend

    settings = get_settings().llm

    def action() -> tuple[Any, float]:
        started = time.perf_counter()
        with create_backend(settings) as backend:
            startup = time.perf_counter() - started
            return check_backend(backend, prompt), startup

    result, startup = run_guarded(action)
    tokens = f", {result.completion_tokens} tokens" if result.completion_tokens else ""
    console.print(f"{result.backend} {result.model} at {result.base_url}: "
                  f"answered in {result.seconds:.2f}s{tokens} (startup {startup:.1f}s)")
    console.print(f"answer: {result.answer!r}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add `index` and the `llm` group to the main `insight` app."""
    app.command("index")(index)
    app.add_typer(llm_app, name="llm")
