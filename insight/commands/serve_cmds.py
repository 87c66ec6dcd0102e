"""`insight serve` (the Gradio app over a workspace) and `insight password-hash` (its logins).

`serve` checks the workspace, starts the configured LLM backend (the embedded llama.cpp server by
default), opens the review index when there is one, serves the app and prints its URL; Ctrl-C
or SIGTERM stops the app and the LLM server. Before anything starts it checks the login: an app
reachable from beyond loopback (a non-loopback `--host`, `--share`, `--root-path`) needs
configured users, and `ui.auth: off` there is refused; either refusal is one line, exit 2.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.settings import get_settings
from insight.commands.common import WorkspaceOpt, fail, run_guarded, workspace_path

console = Console()


def serve_cmd(
    workspace: WorkspaceOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default ui.host, 127.0.0.1); "
                                             "any other address requires a login.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ui.port, 7860).")] = None,
    share: Annotated[bool, typer.Option(help="Also open a public gradio.live link (requires a "
                                        "login).")] = False,
    root_path: Annotated[str | None, typer.Option(
        help="Path prefix behind a reverse proxy, e.g. /insight (default ui.root_path); "
             "requires a login.")] = None,
    llm: Annotated[bool, typer.Option(help="Start the LLM backend (--no-llm: data views "
                                      "only).")] = True,
) -> None:
    """Serve the app (chat, customers, segments, marketing copy, models) and print its URL."""
    import ui  # noqa: F401 - sets Gradio's offline defaults before Gradio is imported
    from assistant.llm.backends import create_backend
    from assistant.llm.errors import LLMError
    from ui.app import launch
    from ui.auth import serving_users
    from ui.context import AppContext, open_retrieval

    settings = get_settings()
    root = workspace_path(workspace)
    started = time.perf_counter()
    bind = host or settings.ui.host
    prefix = root_path if root_path is not None else (
        settings.ui.root_path or os.environ.get("GRADIO_ROOT_PATH", ""))
    run_guarded(lambda: _check_workspace(root))  # missing or empty: exit 3
    # login needed but no users, or auth off on an exposed app: exit 2 before anything starts
    run_guarded(lambda: serving_users(settings.ui, bind, share, prefix))
    backend = None
    try:
        if llm:
            backend = create_backend(settings.llm, progress=sys.stderr.isatty())
            console.print(f"starting the LLM backend ({backend.name}, {backend.model})…")
            try:
                backend.chat_model()  # starts the embedded server and waits until healthy
            except LLMError as exc:
                fail(str(exc).splitlines()[0], 4)
            console.print(f"LLM ready at {backend.base_url}", highlight=False)
        store, embedder = open_retrieval(settings, root)
        ctx = AppContext(root=root, settings=settings, backend=backend, store=store,
                         embedder=embedder)
        served = run_guarded(lambda: launch(ctx, bind, port or settings.ui.port, share,
                                            prefix))
        seconds = time.perf_counter() - started
        console.print(f"behavior-insight is at [bold]{served.local_url}[/] "
                      f"(ready in {seconds:.1f}s; Ctrl-C stops it)", highlight=False)
        if served.share_url:
            console.print(f"public link: {served.share_url}")
        try:
            served.blocks.block_thread()
        finally:
            served.close()
    finally:
        if backend is not None:
            backend.close()


def _check_workspace(root: Path) -> None:
    from core.errors import WorkspaceError
    from store.workspace import Workspace

    if not Workspace.open(root).sources:
        raise WorkspaceError(f"workspace {root} is empty; load data first (`insight sample` "
                             "or `insight ingest …`)")


def password_hash_cmd(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(
        help="Role of the login: admin, operator, marketer or support (what it may see and "
             "export: privacy.unmask_roles, privacy.export_roles).")],
    password_file: Annotated[Path | None, typer.Option(
        help="Read the password from this file instead of a prompt.")] = None,
) -> None:
    """Print a `username:hash:role` line for the app's users file (INSIGHT_UI__USERS_FILE)."""
    from ui.auth import hash_password, user_line

    run_guarded(lambda: user_line(username, "x", role))  # name and role checked before prompt
    if password_file is not None:
        password = run_guarded(lambda: _read_password(password_file))
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True,
                                  err=True)  # prompts on stderr: stdout is the line
    print(run_guarded(lambda: user_line(username, hash_password(password), role)))


def _read_password(path: Path) -> str:
    from core.errors import InputError

    try:
        return path.read_text().rstrip("\n")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def register(app: typer.Typer) -> None:
    """Add `serve` and `password-hash` to the main `insight` app."""
    app.command("serve")(serve_cmd)
    app.command("password-hash")(password_hash_cmd)
