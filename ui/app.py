"""The app: header, reviewer-name toggle and the five tabs; `launch` serves it.

Serving rules: the queue runs data events `ui.concurrency_limit` at a time and LLM events
(`concurrency_id="llm"`) `ui.llm_concurrency_limit` at a time, every handler in a worker thread;
no folder is served (`allowed_paths` empty, the workspace explicitly blocked); a login is
required on non-loopback addresses (`ui.auth`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gradio as gr

from ui import chat_view, customer_view, data, marketing_view, models_view, segments_view
from ui.auth import auth_for
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
        users = data.example_users(con)
        segments = segments_view.segment_choices(data.segments_table(con))
        source_names = data.sources(con)
    model = ctx.backend.model if ctx.backend is not None else "no LLM"
    with gr.Blocks(title="behavior-insight", analytics_enabled=False) as blocks:
        with gr.Row():
            gr.Markdown(f"## behavior-insight\nWorkspace {text_md(ctx.root.name)} · sources: "
                        f"{text_md(', '.join(source_names))} · model: {text_md(model)}")
            masked = gr.Checkbox(value=ctx.settings.ui.mask_reviewer_names,
                                 label="Mask reviewer names", elem_id="mask-names", scale=0,
                                 min_width=200)
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat_view.build(ctx, masked)
            with gr.Tab("Customer", id="customer"):
                customer_view.build(ctx, masked, users)
            with gr.Tab("Segments", id="segments"):
                segments_view.build(ctx, masked)
            with gr.Tab("Marketing", id="marketing"):
                marketing_view.build(ctx, users, segments)
            with gr.Tab("Models", id="models"):
                models_view.build(ctx)
    return blocks


def launch(ctx: AppContext, host: str, port: int, share: bool = False) -> Served:
    """Queue and serve the app without blocking; the caller keeps the process alive."""
    settings = ctx.settings.ui
    auth = auth_for(settings, host)  # raises InputError when a login is needed but unset
    blocks = build_app(ctx)
    blocks.queue(default_concurrency_limit=settings.concurrency_limit,
                 max_size=settings.max_queue_size)
    blocks.launch(server_name=host, server_port=port, share=share, auth=auth,
                  auth_message="behavior-insight: sign in" if auth else None,
                  prevent_thread_lock=True, quiet=True, show_error=False, allowed_paths=[],
                  blocked_paths=[str(ctx.root.resolve())], ssr_mode=False,
                  enable_monitoring=False, mcp_server=False, pwa=False, inbrowser=False,
                  theme=gr.themes.Soft(), css=CSS)
    log.info("app served at %s (login %s)", blocks.local_url, "on" if auth else "off")
    return Served(blocks=blocks, local_url=str(blocks.local_url),
                  share_url=blocks.share_url if share else None)
