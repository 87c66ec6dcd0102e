"""The Chat tab: streamed answers, tool steps as collapsible messages, tables, charts, citations.

`chat_turn` turns the assistant's `chat` events into Chatbot messages: each trace step becomes
a collapsed message (title, status, duration), a draft streams while the tool writes, the final
checked answer replaces it, and the result's table, chart and citations follow inline.
Reviewer names in citations and user-id columns of result tables (and charts) are masked by
the viewer's role (`ui.access`); the role is read from the request, never from an input.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr

from assistant.analytics.compiler import DEFAULT_MIN_GROUP_SIZE
from assistant.llm.errors import LLMError
from assistant.tools.ask import ask
from assistant.tools.chat import ChatEvent, Privacy, chat
from core.errors import InputError
from ui import charts
from ui.access import NO_ROLE, Access, role_access
from ui.context import AppContext
from ui.render import citation_messages, step_message
from ui.safe import md_table, text_md
from ui.streaming import stream_tool

log = logging.getLogger(__name__)

EXAMPLES = [
    "How many purchases are there in taobao?",
    "Which brand has the highest revenue in rees46?",
    "Which category has the most views in taobao?",
    "What is the average rating in musical_instruments?",
]
MAX_HISTORY = 6
MODES = {"auto": "Auto (the assistant picks a tool)", "ask": "Data question (query plan → SQL)"}


def message_text(message: Any) -> str:
    """The plain text of a Chatbot message (dict or ChatMessage, str or content list)."""
    content = message.get("content") if isinstance(message, dict) else getattr(
        message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(c.get("text", "")) for c in content
                        if isinstance(c, dict) and c.get("type", "text") == "text")
    return ""


def tool_history(history: list[Any]) -> list[tuple[str, str]]:
    """(role, text) of earlier user questions and final answers (no step messages)."""
    pairs = []
    for message in history:
        metadata = message.get("metadata") if isinstance(message, dict) else getattr(
            message, "metadata", None)
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", "")
        text = message_text(message)
        if not (metadata or {}).get("title") and text and role in ("user", "assistant"):
            pairs.append((str(role), text))
    return pairs[-MAX_HISTORY:]


PLAN_TITLE = "How I read the question (plan)"
"""Title of the message holding an answer's plan; the next turn's follow-up starts from it."""


def plan_block(plan: dict[str, Any]) -> str:
    """The plan as a fenced JSON block (backticks escaped: values may come from product data)."""
    text = json.dumps(plan, ensure_ascii=True, sort_keys=True, default=str)
    return "```json\n" + text.replace("`", "\\u0060") + "\n```"


def last_plan(history: list[Any]) -> dict[str, Any] | None:
    """The plan of the latest data answer in the chat history, for follow-up questions."""
    for message in reversed(history):
        metadata = message.get("metadata") if isinstance(message, dict) else getattr(
            message, "metadata", None)
        if (metadata or {}).get("title") != PLAN_TITLE:
            continue
        text = message_text(message).strip().removeprefix("```json").removesuffix("```")
        try:
            plan = json.loads(text)
        except ValueError:
            return None
        return plan if isinstance(plan, dict) else None
    return None


def result_extras(result: dict[str, Any], limit: int,
                  access: Access | None = None) -> list[gr.ChatMessage]:
    """The result table and chart of an `ask` answer, as chat messages (user ids and reviewer
    names masked unless `access` may see them; no `access`: masked)."""
    extras: list[gr.ChatMessage] = []
    rows, columns = result.get("rows") or [], result.get("columns") or []
    if access is None or not access.unmask:
        viewer = access or Access(user=None, role=NO_ROLE, unmask=False, export=False)
        rows = viewer.rows(columns, rows)
    if result.get("answerable") and rows and len(rows) > 1:
        extras.append(gr.ChatMessage(role="assistant", content=md_table(columns, rows, limit)))
    spec = result.get("chart")
    if result.get("answerable") and spec and rows:
        figure = charts.answer_chart(spec, rows)
        if figure is not None:
            extras.append(gr.ChatMessage(role="assistant", content=gr.Plot(value=figure)))
    if result.get("plan"):
        extras.append(gr.ChatMessage(role="assistant", content=plan_block(result["plan"]),
                                     metadata={"title": PLAN_TITLE, "status": "done"}))
    if result.get("sql"):
        sql = "\n\n".join(result["sql"])
        extras.append(gr.ChatMessage(role="assistant", content=f"```sql\n{sql}\n```",
                                     metadata={"title": "SQL that produced the numbers",
                                               "status": "done"}))
    return extras


def ask_events(message: str, con: Any, backend: Any,
               min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
               previous_plan: dict[str, Any] | None = None) -> Iterator[ChatEvent]:
    """The `ask` tool's run as chat events (the "Data question" mode skips the router)."""
    yield ChatEvent("route", {"tool": "ask", "by": "user"})
    final = None
    for progress in stream_tool(lambda sink: ask(message, con, backend, on_chunk=sink,
                                                 min_group_size=min_group_size,
                                                 previous_plan=previous_plan)):
        if not progress.done:
            yield ChatEvent("delta", {"text": progress.text})
        final = progress.result
    assert final is not None
    for step in final.run.steps:
        yield ChatEvent("step", step.__dict__)
    yield ChatEvent("answer", {"text": final.answer, "tool": "ask", "result": final.to_dict()})
    yield ChatEvent("done", {})


def chat_turn(ctx: AppContext, message: str, history: list[Any], access: Access | None = None,
              mode: str = "auto") -> Iterator[list[Any]]:
    """One chat turn: yield the whole message list after every change (`access`: the viewer;
    None masks everything)."""
    if access is None:
        access = role_access(ctx.settings, NO_ROLE, pseudonyms=ctx.pseudonyms)
    message = (message or "").strip()
    if not message:
        yield history
        return
    base = [*history, gr.ChatMessage(role="user", content=text_md(message, 1000))]
    earlier = tool_history(history)
    steps: list[gr.ChatMessage] = []
    parent_id = f"tools-{len(history)}"  # the steps of this turn nest under one message
    tools = gr.ChatMessage(role="assistant", content="", metadata={
        "title": "Choosing a tool…", "status": "pending", "id": parent_id})
    answer: gr.ChatMessage | None = None
    extras: list[gr.ChatMessage] = []
    started = time.perf_counter()

    def view() -> list[Any]:
        return [*base, tools, *steps, *([answer] if answer else []), *extras]

    yield view()
    draft = ""
    with ctx.connect() as con:
        try:
            backend = ctx.require_backend()
            privacy = Privacy(min_group_size=ctx.settings.privacy.min_group_size,
                              mask_pii=ctx.settings.privacy.mask_pii)
            previous = last_plan(history)
            events = (ask_events(message, con, backend, privacy.min_group_size, previous)
                      if mode == "ask" else
                      chat(earlier, message, con=con, backend=backend,
                           retriever=ctx.retriever(con), privacy=privacy,
                           prose_max_tokens=ctx.settings.llm.prose_max_tokens,
                           previous_plan=previous))
            for event in events:
                if event.type == "route":
                    tools.metadata["title"] = (f"Tool: {event.data['tool']} (chosen by "
                                               f"{event.data.get('by', '?')})")
                    tools.content = f"Running {event.data['tool']}…"
                elif event.type == "step":
                    steps.append(step_message(event.data, parent_id))
                elif event.type == "delta":
                    draft = str(event.data["text"]) if mode == "ask" else (
                        draft + str(event.data.get("text", "")))
                    answer = gr.ChatMessage(role="assistant", content=text_md(draft))
                elif event.type == "answer":
                    text = str(event.data["text"])
                    answer = gr.ChatMessage(role="assistant", content=text_md(text))
                    result = event.data.get("result")
                    extras = [*result_extras(result or {}, ctx.settings.ui.max_table_rows,
                                             access),
                              *citation_messages(con, text, result, not access.unmask)]
                elif event.type == "error":
                    answer = gr.ChatMessage(role="assistant", content="⚠ " + text_md(
                        event.data.get("message", "error"), 500))
                elif event.type == "done":
                    tools.content = f"{len(steps)} steps"
                    _finish(tools, started)
                yield view()
        except (InputError, LLMError) as exc:
            _finish(tools, started)
            answer = gr.ChatMessage(role="assistant", content="⚠ " + text_md(str(exc), 500))
            yield view()
        except Exception:  # never a traceback in the page; logged for the operator
            log.exception("chat turn failed")
            _finish(tools, started)
            answer = gr.ChatMessage(role="assistant", content="⚠ Something went wrong; the "
                                    "server log has the details.")
            yield view()


def _finish(message: gr.ChatMessage, started: float) -> None:
    message.metadata["status"] = "done"
    message.metadata["duration"] = round(time.perf_counter() - started, 2)


def build(ctx: AppContext) -> dict[str, Any]:
    """Lay out the Chat tab inside the current Blocks; returns components others reuse."""
    chatbot = gr.Chatbot(label="Assistant", height=560, elem_id="chatbot",
                         sanitize_html=True, allow_tags=False, group_consecutive_messages=False,
                         placeholder="Ask about the data, a customer, a segment or an item.")
    with gr.Row():
        box = gr.Textbox(placeholder="How many purchases are there in taobao?", scale=8,
                         show_label=False, elem_id="chat-input", max_length=1000)
        send = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
        clear = gr.Button("Clear", scale=1)
    with gr.Row():
        mode = gr.Radio([(label, key) for key, label in MODES.items()], value="auto",
                        label="Mode", elem_id="chat-mode", scale=2)
        gr.Examples(EXAMPLES, inputs=box, label="Examples")

    def respond(message: str, history: list[Any], how: str,
                request: gr.Request) -> Iterator[tuple[Any, str]]:
        for messages in chat_turn(ctx, message, history or [], ctx.access(request), how):
            yield messages, ""

    limit = ctx.settings.ui.llm_concurrency_limit
    inputs = [box, chatbot, mode]
    send.click(respond, inputs=inputs, outputs=[chatbot, box], concurrency_id="llm",
               concurrency_limit=limit, api_name="chat")
    box.submit(respond, inputs=inputs, outputs=[chatbot, box], concurrency_id="llm",
               concurrency_limit=limit, api_name=False)
    clear.click(lambda: [], outputs=chatbot, api_name=False)
    return {"chatbot": chatbot, "box": box}
