"""`chat`: one conversational entry point that routes each message to a tool and streams.

Routing is constrained: code first finds the user / item ids and segment numbers the message
names (checked against the workspace) and recognises clear requests ("summarize user …",
"why … item …"); otherwise the LLM picks a tool and its arguments as a small JSON object
(`Route`, constrained output). The chosen tool runs in a worker thread so its text can be
streamed as it is produced; the generator yields `ChatEvent`s: `route`, `step` (the tool
trace for the UI), `delta` (text chunks of a draft), `answer` (the final, checked text, which
replaces any draft), `error` (one line) and `done`.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, Field

from assistant.analytics.compiler import DEFAULT_MIN_GROUP_SIZE
from assistant.llm.backends import LLMBackend
from assistant.llm.errors import LLMError, StructuredOutputError
from assistant.llm.structured import structured
from assistant.tools.audience_tool import audience_answer, is_audience_question
from assistant.tools.follow_up import opens_like_follow_up
from assistant.tools.trace import ToolRun
from core.errors import InputError
from prompts import load_prompt
from retrieval.search import Retriever

log = logging.getLogger(__name__)

PROMPT = "chat_router"
ToolName = Literal["ask", "summary", "persona", "explain", "copy", "audience", "help"]
HELP = ("I can answer questions about the data (\"how many purchases in taobao last week?\"), "
        "summarize a customer (\"summarize user 42\"), describe a persona (\"persona of user "
        "42\" or \"persona of segment 1\"), explain a recommendation (\"why item 123 for user "
        "42?\") and write marketing copy (\"email copy for item 123 to user 42\").")


DATA_QUESTION = re.compile(
    r"\b(how many|how much|number of|count|rates?|average|avg|mean|median|total|sum|share|"
    r"revenue|sales|conversion|trend|per (day|week|month)|daily|weekly|monthly|top \d+|"
    r"most|least|fewest|highest|lowest|compare[ds]?|fell|rose|grew|dropped)\b", re.IGNORECASE)
"""Words of a question about aggregates (counts, rates, rankings, trends): the `ask` tool."""
NAMES_SUBJECT = re.compile(r"\b(user|customer|shopper|item|product|asin|segment)\s+\S",
                           re.IGNORECASE)
"""A message that labels an id ("user 42"), even one that does not exist."""
NEEDS = {"summary": ("users",), "explain": ("users", "items"), "persona": ("users", "segments"),
         "copy": ("items",)}
"""Per tool: the kinds of found ids of which at least one must be present."""


class Route(BaseModel):
    """Which tool answers, with which arguments."""

    tool: ToolName
    user_id: str | None = Field(None, max_length=100)
    item_id: str | None = Field(None, max_length=100)
    segment: int | None = None
    source: str | None = Field(None, max_length=100)
    channel: Literal["email", "push", "banner"] | None = None


@dataclass
class ChatEvent:
    """One streamed event for the UI / CLI."""

    type: Literal["route", "step", "delta", "answer", "error", "done"]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Found:
    """Ids the message names that exist in the workspace."""

    users: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    segments: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def find_ids(con: duckdb.DuckDBPyConnection, message: str) -> Found:
    """User ids, item ids, segment numbers and source names present in the message."""
    found = Found()
    tokens = list(dict.fromkeys(re.findall(r"[A-Za-z0-9_-]{1,40}", message)))
    labelled_user = re.findall(r"\b(?:user|customer|shopper)\s+([A-Za-z0-9_-]+)", message, re.I)
    labelled_item = re.findall(r"\b(?:item|product|asin)\s+([A-Za-z0-9_-]+)", message, re.I)
    labelled_seg = re.findall(r"\bsegment\s+(\d+)", message, re.I)
    users = {r[0] for r in con.execute("SELECT DISTINCT user_id FROM events WHERE "
                                       "list_contains(?, user_id)", [tokens]).fetchall()}
    items = {r[0] for r in con.execute("SELECT DISTINCT item_id FROM events WHERE "
                                       "list_contains(?, item_id) UNION SELECT item_id FROM items "
                                       "WHERE list_contains(?, item_id)", [tokens, tokens]
                                       ).fetchall()}
    found.users = [t for t in labelled_user if t in users] or (
        [t for t in tokens if t in users and t not in labelled_item and not t.isdigit()])
    found.items = [t for t in labelled_item if t in items] or (
        [t for t in tokens if t in items and t not in found.users and not t.isdigit()])
    found.segments = [int(s) for s in labelled_seg]
    sources = {r[0] for r in con.execute("SELECT DISTINCT source FROM events").fetchall()}
    found.sources = [t for t in tokens if t in sources]
    return found


def rule_route(message: str, found: Found) -> Route | None:
    """A route for unambiguous requests, without the LLM."""
    text = message.lower()
    user = found.users[0] if found.users else None
    item = found.items[0] if found.items else None
    segment = found.segments[0] if found.segments else None
    source = found.sources[0] if found.sources else None
    channel = next((c for c in ("email", "push", "banner") if c in text), None)
    if item and (user or segment is not None) and (channel or re.search(r"\b(copy|message|"
                                                                        r"write)\b", text)):
        return Route(tool="copy", user_id=user, item_id=item, segment=segment, source=source,
                     channel=channel or "email")
    if user and item and re.search(r"\b(why|explain|reason)\b", text):
        return Route(tool="explain", user_id=user, item_id=item, source=source)
    if re.search(r"\bpersona\b", text) and (user or segment is not None):
        return Route(tool="persona", user_id=user, segment=None if user else segment,
                     source=source)
    if user and re.search(r"\b(summar\w*|brief\w*|who is|tell me about|overview)\b", text):
        return Route(tool="summary", user_id=user, source=source)
    if re.fullmatch(r"\s*(hi|hello|hey|help|thanks?|thank you)[\s!.?]*", text):
        return Route(tool="help")
    if not (found.users or found.items or NAMES_SUBJECT.search(message)) and (
            DATA_QUESTION.search(message)):
        return Route(tool="ask", source=source)
    return None


def _lacks_ids(route: Route, found: Found, message: str) -> bool:
    """True when `route`'s tool needs an id the message neither has nor labels."""
    kinds = NEEDS.get(route.tool)
    if not kinds or NAMES_SUBJECT.search(message):
        return False
    return not any(getattr(found, kind) for kind in kinds)


def llm_route(backend: LLMBackend, message: str, history: Sequence[tuple[str, str]],
              found: Found, run: ToolRun) -> Route:
    """The LLM's route (constrained JSON); falls back to `ask` when it fails."""
    prompt = load_prompt(PROMPT)
    run.use_prompt(prompt.ref)
    earlier = " | ".join(f"{role}: {text[:150]}" for role, text in list(history)[-2:]) or "none"
    ids = (f"users={found.users or 'none'} items={found.items or 'none'} "
           f"segments={found.segments or 'none'} sources={found.sources or 'none'}")
    try:
        route = structured(backend, prompt.render(history=earlier, message=message, ids=ids),
                           Route)
    except StructuredOutputError as exc:
        log.warning("router failed, answering as a data question: %s", exc)
        return Route(tool="ask")
    if _lacks_ids(route, found, message):
        # e.g. "how many purchases in taobao?" sent to `summary`: no customer is named, so it
        # is a question about the data.
        log.info("router chose %s without the ids it needs; answering as a data question",
                 route.tool)
        return Route(tool="ask", source=route.source)
    # Only ids that exist may be used: an invented id becomes "missing".
    if route.user_id and route.user_id not in found.users:
        route.user_id = found.users[0] if found.users else None
    if route.item_id and route.item_id not in found.items:
        route.item_id = found.items[0] if found.items else None
    return route


@dataclass(frozen=True)
class Privacy:
    """What the tools hide: groups of fewer users than `min_group_size` in data answers, and
    personal data in review text when `mask_pii` is on."""

    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    mask_pii: bool = True


def _run_tool(route: Route, message: str, con: duckdb.DuckDBPyConnection,
              backend: LLMBackend, retriever: Retriever | None, sink: Any,
              privacy: Privacy | None = None, prose_max_tokens: int | None = None,
              previous_plan: dict[str, Any] | None = None) -> Any:
    from assistant.tools.ask import ask
    from assistant.tools.explain import explain
    from assistant.tools.marketing import marketing_copy
    from assistant.tools.persona import persona
    from assistant.tools.summary import user_summary

    privacy = privacy or Privacy()
    mask = privacy.mask_pii
    prose = {} if prose_max_tokens is None else {"prose_max_tokens": prose_max_tokens}

    def need(value: Any, what: str) -> Any:
        if value is None:
            raise InputError(f"which {what}? Name it in the message, e.g. \"{what} 42\"")
        return value

    if route.tool == "summary":
        return user_summary(need(route.user_id, "user"), route.source, con=con, backend=backend,
                            retriever=retriever, on_chunk=sink, mask_pii=mask, **prose)
    if route.tool == "persona":
        if route.user_id is None and route.segment is None:
            need(None, "user")
        return persona(route.user_id, None if route.user_id else route.segment, route.source,
                       con=con, backend=backend, retriever=retriever, on_chunk=sink,
                       mask_pii=mask, **prose)
    if route.tool == "explain":
        return explain(need(route.user_id, "user"), need(route.item_id, "item"), route.source,
                       con=con, backend=backend, retriever=retriever, on_chunk=sink,
                       mask_pii=mask, **prose)
    if route.tool == "audience":
        return audience_answer(message, con, route.source)
    if route.tool == "copy":
        if route.user_id is None and route.segment is None:
            need(None, "user")
        return marketing_copy(need(route.item_id, "item"), con=con, backend=backend,
                              user_id=route.user_id, segment=route.segment, source=route.source,
                              channel=route.channel or "email", on_chunk=sink,
                              mask_pii=mask)
    return ask(message, con, backend, on_chunk=sink, min_group_size=privacy.min_group_size,
               previous_plan=previous_plan)


def answer_text(result: Any) -> str:
    """The text a tool result shows in a chat."""
    for name in ("answer", "summary", "prose", "explanation"):
        if isinstance(getattr(result, name, None), str):
            text = getattr(result, name)
            notice = getattr(result, "notice", None)
            return f"{text}\n\n({notice})" if notice else text
    variants = getattr(result, "variants", None)
    if variants:
        return "\n\n".join(f"{i}. {v['headline']}\n{v['body']}"
                           for i, v in enumerate(variants, start=1))
    return str(result)


def chat(history: Sequence[tuple[str, str]], message: str, *, con: duckdb.DuckDBPyConnection,
         backend: LLMBackend, retriever: Retriever | None = None,
         privacy: Privacy | None = None,
         prose_max_tokens: int | None = None,
         previous_plan: dict[str, Any] | None = None) -> Iterator[ChatEvent]:
    """Route `message` (with `history` as context) to a tool and stream its answer; `privacy`
    (default: groups under 5 users hidden, review text masked) and `prose_max_tokens` (the
    `llm.prose_max_tokens` setting; default `narrate.PROSE_MAX_TOKENS`) are passed to the
    tool. `previous_plan` (the plan of the last data answer) lets a follow-up such as "and in
    November?" go to `ask` with that plan's filters."""
    started = time.perf_counter()
    run = ToolRun(tool="chat", model=backend.model)
    message = message.strip()[:1000]
    try:
        with run.step("route") as step:
            found = find_ids(con, message)
            route = rule_route(message, found)
            if (route is None or route.tool == "ask") and is_audience_question(message):
                route = Route(tool="audience", source=(found.sources or [None])[0])
            how = "rules"
            if route is None and previous_plan is not None and opens_like_follow_up(message):
                route, how = Route(tool="ask"), "follow-up"
            if route is None:
                route = llm_route(backend, message, history, found, run)
                how = "llm"
            step.detail = f"{route.tool} by {how}"
    except LLMError as exc:
        yield ChatEvent("error", {"message": str(exc)})
        yield ChatEvent("done", {"trace": run.finish().to_dict()})
        return
    yield ChatEvent("route", {**route.model_dump(), "by": how})
    yield ChatEvent("step", run.steps[-1].__dict__)
    if route.tool == "help":
        yield ChatEvent("answer", {"text": HELP})
        yield ChatEvent("done", {"trace": run.finish().to_dict()})
        return
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def worker() -> None:
        try:
            result = _run_tool(route, message, con, backend, retriever,
                               lambda chunk: events.put(("delta", chunk)), privacy,
                               prose_max_tokens, previous_plan)
            events.put(("result", result))
        except (InputError, LLMError) as exc:
            events.put(("error", str(exc)))
        except Exception as exc:  # shown as one line; logged with its traceback
            log.exception("tool %s failed", route.tool)
            events.put(("error", f"{route.tool} failed: {exc}"))

    thread = threading.Thread(target=worker, daemon=True, name=f"chat-{route.tool}")
    thread.start()
    while True:
        kind, payload = events.get()
        if kind == "delta":
            yield ChatEvent("delta", {"text": payload,
                                      "t": round(time.perf_counter() - started, 3)})
            continue
        if kind == "error":
            yield ChatEvent("error", {"message": payload})
        else:
            tool_run = payload.run
            for step in tool_run.steps:
                yield ChatEvent("step", step.__dict__)
            yield ChatEvent("answer", {"text": answer_text(payload), "tool": route.tool,
                                       "result": payload.to_dict()})
        break
    thread.join(timeout=5)
    yield ChatEvent("done", {"trace": run.finish().to_dict(),
                             "seconds": round(time.perf_counter() - started, 3)})
