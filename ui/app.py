"""The app: header (who is signed in, with which role) and the five tabs; `launch` serves it.

Serving rules: the queue runs data events `ui.concurrency_limit` at a time and LLM events
(`concurrency_id="llm"`) `ui.llm_concurrency_limit` at a time, every handler in a worker thread;
no folder is served (`allowed_paths` empty, the workspace explicitly blocked); a login is
required whenever the app is reachable from beyond loopback — a non-loopback bind, `--share` or
a `root_path` — and it refuses to start there without one (`ui.auth`).

What a viewer sees is decided by their role (`ui.access`), read from the request in every
handler: no input or toggle can unmask names or ids. The page is built masked and without the
CSV download; its load event fills in the pickers and shows the download as the role allows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from ui import chat_view, customer_view, data, marketing_view, models_view, segments_view
from ui.access import NO_ROLE, role_access
from ui.auth import make_checker, serving_users
from ui.context import AppContext
from ui.safe import text_md

log = logging.getLogger(__name__)

CSS = """
.bi-card {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px;
          margin-bottom: 8px;}
.bi-card table {width: 100%; font-size: 0.9em;} .bi-card th {text-align: left; width: 45%;}
.bi-note {color: var(--body-text-color-subdued); font-size: 0.85em;}
.bi-error {color: #b00020; font-weight: 600;}
.bi-table {font-size: 0.85em;} .bi-table td {vertical-align: top;}
.bi-prose p {line-height: 1.5;}
"""


@dataclass
class Served:
    """A running app: its Blocks and the URL(s) it answers on."""

    blocks: gr.Blocks
    local_url: str
    share_url: str | None = None

    def close(self) -> None:
        """Stop the web server."""
        self.blocks.close()


def build_app(ctx: AppContext) -> gr.Blocks:
    """The Blocks app over one workspace (data for the pickers is read once, at build)."""
    with ctx.connect() as con:
        active = data.active_users(con)
        segments = segments_view.segment_choices(data.segments_table(con))
        source_names = data.sources(con)
    masked = role_access(ctx.settings, NO_ROLE, pseudonyms=ctx.pseudonyms).user_choices(active)
    model = ctx.backend.model if ctx.backend is not None else "no LLM"
    with gr.Blocks(title="behavior-insight", analytics_enabled=False) as blocks:
        gr.Markdown(f"## behavior-insight\nWorkspace {text_md(ctx.root.name)} · sources: "
                    f"{text_md(', '.join(source_names))} · model: {text_md(model)}")
        viewer = gr.Markdown(elem_id="viewer", elem_classes="bi-note")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat_view.build(ctx)
            with gr.Tab("Customer", id="customer"):
                customer = customer_view.build(ctx, masked)
            with gr.Tab("Segments", id="segments"):
                segments_view.build(ctx)
            with gr.Tab("Marketing", id="marketing"):
                marketing = marketing_view.build(ctx, masked, segments)
            with gr.Tab("Models", id="models"):
                models_view.build(ctx)

        def on_load(request: gr.Request) -> tuple[Any, ...]:
            access = ctx.access(request)
            choices = access.user_choices(active)
            return (text_md(access.label()), gr.update(choices=choices),
                    gr.update(choices=choices), gr.update(visible=access.export))

        blocks.load(on_load, outputs=[viewer, customer["pick"], marketing["user"],
                                      marketing["download"]], api_name=False)
    return blocks


def launch(ctx: AppContext, host: str, port: int, share: bool = False,
           root_path: str = "") -> Served:
    """Queue and serve the app without blocking; the caller keeps the process alive.

    Raises `InputError` (before anything is served) when a login is required but not
    configured, or `ui.auth: off` would leave an exposed app without one (`ui.auth`).
    """
    settings = ctx.settings.ui
    users = serving_users(settings, host, share, root_path)
    ctx = replace(ctx, roles=None if users is None else {n: u.role for n, u in users.items()})
    auth = None if users is None else make_checker(users)
    blocks = build_app(ctx)
    blocks.queue(default_concurrency_limit=settings.concurrency_limit,
                 max_size=settings.max_queue_size)
    blocks.launch(server_name=host, server_port=port, share=share, auth=auth,
                  auth_message="behavior-insight: sign in" if auth else None,
                  root_path=root_path, prevent_thread_lock=True, quiet=True, show_error=False,
                  allowed_paths=[], blocked_paths=[str(ctx.root.resolve())], ssr_mode=False,
                  enable_monitoring=False, mcp_server=False, pwa=False, inbrowser=False,
                  theme=gr.themes.Soft(), css=CSS)
    log.info("app served at %s (login %s)", blocks.local_url, "on" if auth else "off")
    return Served(blocks=blocks, local_url=str(blocks.local_url),
                  share_url=blocks.share_url if share else None)
