"""The Segments tab: the predictors' segments with their facts, names and charts; a persona of
one segment and questions asked about it.

Names and descriptions come from the `segment_names` table (`insight name-segments`) when it
exists, else "Segment N"; every figure comes from the `segments` table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import pandas as pd

from assistant.tools.persona import persona
from core.errors import InputError
from ui import charts, data
from ui.chat_view import chat_turn
from ui.context import AppContext
from ui.customer_view import error_html, prose_stream
from ui.safe import text_html


def segment_choices(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, "source/segment") for the picker."""
    if frame.empty:
        return []
    return [(f"{r.source} · {r.segment} · {r.name} ({r.n_users} users)",
             f"{r.source}/{r.segment}") for r in frame.itertuples()]


def overview(frame: pd.DataFrame) -> tuple[Any, Any]:
    """Bar charts of segment sizes and of mean churn / intent."""
    if frame.empty:
        blank = charts.empty("no segments yet: run `insight train` and `insight score`")
        return blank, blank
    labels = [f"{r.source}/{r.segment}" for r in frame.itertuples()]
    sizes = charts.bars(labels, {"users": [float(v) for v in frame["n_users"]]},
                        "Users per segment", "users")
    metrics = [m for m in ("mean_intent", "mean_churn", "buyers_share")
               if m in frame.columns and frame[m].notna().any()]
    if not metrics:
        return sizes, charts.empty("no intent or churn scores")
    series = {m.replace("_", " "): [float(v) if pd.notna(v) else 0.0 for v in frame[m]]
              for m in metrics}
    return sizes, charts.bars(labels, series, "Scores per segment (means)", "share / probability",
                              percent=True)


def _parse(key: str | None) -> tuple[str, int]:
    source, _, number = (key or "").rpartition("/")
    if not source or not number.lstrip("-").isdigit():
        raise InputError("pick a segment first")
    return source, int(number)


def traits_html(traits: list[Any]) -> str:
    """Persona traits with the citations they rest on."""
    items = "".join(f"<li><b>{text_html(t.name.replace('_', ' '))}</b>: {text_html(t.value)} "
                    f"<span class='bi-note'>{text_html(' '.join(t.evidence))}</span></li>"
                    for t in traits)
    return f"<ul class='bi-traits'>{items}</ul>" if items else ""


def persona_stream(ctx: AppContext, key: str | None, masked: bool
                   ) -> Iterator[tuple[str, str]]:
    """The persona of one segment: traits (SQL) and cited prose (LLM), streamed."""
    try:
        source, segment = _parse(key)
    except InputError as exc:
        yield error_html(str(exc)), ""
        return
    yield from prose_stream(
        ctx, f"Describing segment {segment} of {source}…",
        lambda con, backend, retriever, sink: persona(
            None, segment, source, con=con, backend=backend, retriever=retriever,
            on_chunk=sink, prose_max_tokens=ctx.settings.llm.prose_max_tokens),
        lambda result: result.prose, masked,
        head=lambda result: f"<h4>{text_html(result.subject)}</h4>" + traits_html(result.traits))


def build(ctx: AppContext) -> None:
    """Lay out the Segments tab."""
    with ctx.connect() as con:
        frame = data.segments_table(con)
    sizes_fig, metric_fig = overview(frame)
    shown = frame.drop(columns=["description"], errors="ignore")
    gr.Dataframe(value=shown if not shown.empty else None, interactive=False, wrap=True,
                 label="Segments (facts computed by the predictors)", elem_id="segments-table")
    if "description" in frame.columns and frame["description"].notna().any():
        gr.HTML("".join(f"<p><b>{text_html(r.source)}/{text_html(r.segment)} "
                        f"{text_html(r.name)}</b>: {text_html(r.description)}</p>"
                        for r in frame.itertuples() if isinstance(r.description, str)))
    with gr.Row():
        gr.Plot(value=sizes_fig, show_label=False)
        gr.Plot(value=metric_fig, show_label=False)
    choices = segment_choices(frame)
    with gr.Row():
        pick = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None,
                           label="Segment", scale=4, elem_id="segment-pick")
        describe = gr.Button("Persona", variant="primary", scale=1, elem_id="segment-persona")
    persona_box = gr.HTML(elem_id="segment-persona-text")
    persona_refs = gr.HTML()
    gr.Markdown("#### Ask about this segment (answered per segment of its source, to compare)")
    answers = gr.Chatbot(height=320, sanitize_html=True, allow_tags=False,
                         group_consecutive_messages=False, elem_id="segment-chat")
    with gr.Row():
        question = gr.Textbox(placeholder="How many purchases does this segment make?",
                              show_label=False, scale=5, max_length=500)
        ask_button = gr.Button("Ask", scale=1)
    limit = ctx.settings.ui.llm_concurrency_limit

    def on_persona(key: str | None, request: gr.Request) -> Iterator[tuple[str, str]]:
        yield from persona_stream(ctx, key, not ctx.access(request).unmask)

    def on_ask(text: str, key: str | None, history: list[Any], request: gr.Request
               ) -> Iterator[tuple[Any, str]]:
        try:
            source, segment = _parse(key)
        except InputError as exc:
            gr.Warning(str(exc))
            yield history, text
            return
        # The query plan filters by source and groups by segment: the chosen segment's row
        # stands beside the others for comparison.
        message = f"{(text or '').strip().rstrip('?')} by segment in {source}?"
        for messages in chat_turn(ctx, message, history or [], ctx.access(request),
                                  mode="ask"):
            yield messages, ""

    describe.click(on_persona, inputs=pick, outputs=[persona_box, persona_refs],
                   concurrency_id="llm", concurrency_limit=limit, api_name="persona")
    for trigger in (ask_button.click, question.submit):
        trigger(on_ask, inputs=[question, pick, answers], outputs=[answers, question],
                concurrency_id="llm", concurrency_limit=limit, api_name=False)
