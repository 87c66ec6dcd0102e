"""`insight ask | summary | persona | explain | copy | chat | name-segments | eval`.

Each command opens the workspace read-only, creates the configured LLM backend (the embedded
llama.cpp server starts on first use and stops when the command ends), runs one tool from
`assistant.tools` and prints its answer, or the whole result with `--json`. Errors are one
line: bad input exits 2, workspace problems 3, an unavailable or failing LLM 4.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import InputError
from core.settings import get_settings
from insight.commands.common import WorkspaceOpt, run_guarded, workspace_path

console = Console(width=None if sys.stdout.isatty() else 160)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")]
SourceOpt = Annotated[str | None, typer.Option(help="Source of the user / item.")]


@contextmanager
def tool_context(workspace: Path | None, retrieval: bool = False) -> Iterator[dict[str, Any]]:
    """Read-only connection, LLM backend (stopped on exit) and, if indexed, a retriever."""
    from assistant.llm.backends import create_backend
    from store.workspace import Workspace

    settings = get_settings()
    root = workspace_path(workspace)
    con = Workspace.open(root).connect()
    backend = create_backend(settings.llm, progress=sys.stderr.isatty())
    try:
        yield {"con": con, "backend": backend,
               "retriever": make_retriever(con, root) if retrieval else None, "root": root,
               "mask_pii": settings.privacy.mask_pii,
               "prose_max_tokens": settings.llm.prose_max_tokens}
    finally:
        backend.close()
        con.close()


def make_retriever(con: Any, root: Path) -> Any:
    """A retriever over the workspace's review index, or None when there is no index."""
    from retrieval.factory import chroma_dir, create_store
    from retrieval.store import REVIEWS

    settings = get_settings().retrieval
    if not settings.chroma.host and not chroma_dir(settings, root).exists():
        return None
    from retrieval.embedder import create_embedder
    from retrieval.search import Retriever

    store = create_store(settings, root)
    if store.count(REVIEWS) == 0:
        return None
    return Retriever(con=con, store=store, embedder=create_embedder(settings))


def _run_tool(workspace: Path | None, as_json: bool, call: Callable[[dict[str, Any]], Any],
              render: Callable[[Any], None], retrieval: bool = False,
              check: Callable[[], None] | None = None) -> None:
    """The shape of every tool command: check the arguments, open the tool context, call the
    tool, then print its result (JSON, or `render` plus the run line), errors as one line."""
    def action() -> Any:
        if check is not None:
            check()
        with tool_context(workspace, retrieval=retrieval) as ctx:
            return call(ctx)

    _emit(run_guarded(action), as_json, render)


def _print_notice(result: Any) -> None:
    if result.notice:
        console.print(f"[yellow]{escape(result.notice)}[/]")


def _print_prose(result: Any) -> None:
    """A prose tool's text, its notice and badge, then what each numbered citation is."""
    console.print(escape(result.text), highlight=False)
    _print_notice(result)
    console.print(f"[dim]{escape(result.badge)} · status {result.status}[/]", highlight=False)
    _print_sources(result.sources)


def _print_sources(sources: list[dict[str, Any]]) -> None:
    """What each numbered citation points to: a fact's value, a review's snippet."""
    for source in sources:
        detail = source.get("value") if source["kind"] != "review" else source.get("snippet")
        console.print(f"[dim]\\[{source['n']}] {escape(source['label'])}: "
                      f"{escape(str(detail)[:160])}[/]", highlight=False)


def _one_of(first: object, second: object, message: str) -> Callable[[], None]:
    """An argument check: exactly one of two options must be given."""
    def check() -> None:
        if (first is None) == (second is None):
            raise InputError(message)
    return check


def _emit(result: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return
    render(result)
    run = result.run
    refs = ", ".join(run.prompt_refs) or "no prompt"
    console.print(f"[dim]{run.tool} · {refs} · {run.model or 'no model'} · "
                  f"{run.latency_s:.1f}s[/]", highlight=False)


def _rows_table(columns: list[str], rows: list[dict[str, Any]], limit: int = 10) -> Table:
    table = Table(show_header=True)
    for column in columns:
        table.add_column(column)
    for row in rows[:limit]:
        table.add_row(*[escape(str(row.get(c))) for c in columns])
    return table


def ask_cmd(
    question: Annotated[str, typer.Argument(help="An operator question about the data.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question about the data with a table (numbers only from SQL results)."""
    from assistant.tools.ask import ask

    min_group_size = get_settings().privacy.min_group_size

    def render(result: Any) -> None:
        console.print(escape(result.answer), highlight=False)
        if result.rows and result.answerable:
            console.print(_rows_table(result.columns, result.rows))

    _run_tool(workspace, as_json, lambda ctx: ask(question, ctx["con"], ctx["backend"],
                                                  min_group_size=min_group_size), render)


def summary_cmd(
    user: Annotated[str, typer.Argument(help="User id.")],
    source: SourceOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A cited briefing about one customer (facts, scores, relevant reviews)."""
    from assistant.tools.summary import user_summary

    _run_tool(workspace, as_json, lambda ctx: user_summary(
        user, source, con=ctx["con"], backend=ctx["backend"], retriever=ctx["retriever"],
        mask_pii=ctx["mask_pii"], prose_max_tokens=ctx["prose_max_tokens"]), _print_prose,
        retrieval=True)


def persona_cmd(
    user: Annotated[str | None, typer.Argument(help="User id (or use --segment).")] = None,
    segment: Annotated[int | None, typer.Option(help="Segment number instead of a user.")]
    = None,
    source: SourceOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A structured persona (traits with evidence) and cited prose for a user or a segment."""
    from assistant.tools.persona import persona

    def render(result: Any) -> None:
        console.print(f"[bold]{escape(result.subject)}[/]")
        for trait in result.traits:
            console.print(f"- {trait.name}: {escape(trait.value)}", highlight=False)
        _print_prose(result)

    _run_tool(workspace, as_json, lambda ctx: persona(
        user, segment, source, con=ctx["con"], backend=ctx["backend"],
        retriever=ctx["retriever"], mask_pii=ctx["mask_pii"],
        prose_max_tokens=ctx["prose_max_tokens"]), render, retrieval=True,
        check=_one_of(user, segment, "give a user id or --segment N (not both)"))


def explain_cmd(
    user: Annotated[str, typer.Argument(help="User id.")],
    item: Annotated[str, typer.Argument(help="Item id.")],
    source: SourceOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why an item is suggested to a user: score, rank, leading items, matching reviews."""
    from assistant.tools.explain import explain

    _run_tool(workspace, as_json, lambda ctx: explain(
        user, item, source, con=ctx["con"], backend=ctx["backend"], retriever=ctx["retriever"],
        mask_pii=ctx["mask_pii"], prose_max_tokens=ctx["prose_max_tokens"]), _print_prose,
        retrieval=True)


def copy_cmd(
    item: Annotated[str, typer.Option(help="Item id to write about.")],
    user: Annotated[str | None, typer.Option(help="Target user id.")] = None,
    segment: Annotated[int | None, typer.Option(help="Target segment number.")] = None,
    channel: Annotated[str, typer.Option(help="email | push | banner")] = "email",
    tone: Annotated[str, typer.Option(help="Tone, e.g. friendly, formal, playful.")]
    = "friendly",
    variants: Annotated[int, typer.Option(help="Number of variants (1-5).")] = 3,
    source: SourceOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Marketing copy variants grounded in the item's real attributes and the target."""
    from assistant.tools.marketing import marketing_copy

    def render(result: Any) -> None:
        for i, v in enumerate(result.variants, start=1):
            console.print(f"[bold]{i}. {escape(v['headline'])}[/]\n{escape(v['text'])}",
                          highlight=False)
            console.print(f"[dim]{escape(v['badge'])} · status {v['status']}[/]",
                          highlight=False)
            _print_sources(v["sources"])
        _print_notice(result)
        console.print(f"[dim]{escape(result.badge)} · status {result.status}[/]",
                      highlight=False)

    _run_tool(workspace, as_json, lambda ctx: marketing_copy(
        item, con=ctx["con"], backend=ctx["backend"], user_id=user, segment=segment,
        source=source, channel=channel, tone=tone, n_variants=variants,
        mask_pii=ctx["mask_pii"]), render,
        check=_one_of(user, segment, "give --user U or --segment N (not both)"))


def chat_cmd(
    message: Annotated[str | None, typer.Argument(
        help="One chat message; without it, a session reads messages from stdin until EOF "
             "or 'exit'.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    session: Annotated[Path | None, typer.Option(
        help="Keep the conversation in this JSON file, so separate calls continue it "
             "(follow-ups such as 'and in November?').")] = None,
) -> None:
    """Chat with the assistant: each message is routed to the right tool, with the
    conversation so far (follow-ups keep the previous question's filters)."""
    from assistant.tools.chat import Privacy, chat
    from assistant.tools.chat_session import ChatSession

    def turns() -> Iterator[str]:
        if message is not None:
            yield message
            return
        for line in sys.stdin:
            if line.strip().lower() in ("exit", "quit"):
                return
            if line.strip():
                yield line.strip()

    def action() -> int:
        code = 0
        privacy = get_settings().privacy
        state = ChatSession.load(session)
        with tool_context(workspace, retrieval=True) as ctx:
            for text in turns():
                answer, result = "", None
                for event in chat(state.history, text, con=ctx["con"], backend=ctx["backend"],
                                  retriever=ctx["retriever"],
                                  privacy=Privacy(min_group_size=privacy.min_group_size,
                                                  mask_pii=privacy.mask_pii),
                                  prose_max_tokens=ctx["prose_max_tokens"],
                                  previous_plan=state.last_plan):
                    if event.type == "answer":
                        answer, result = event.data["text"], event.data.get("result")
                    code = max(code, _print_chat_event(event, as_json))
                state.record(text, answer, result)
                state.save(session)
        return code

    code = run_guarded(action)
    if code:
        raise typer.Exit(code)


def _print_chat_event(event: Any, as_json: bool) -> int:
    """Show one chat event (a JSON line with --json); 2 for an error event, else 0."""
    if as_json:
        print(json.dumps({"type": event.type, **event.data}, default=str), flush=True)
    elif event.type == "route":
        console.print(f"[dim]→ {event.data['tool']} ({event.data['by']})[/]")
    elif event.type == "answer":
        console.print(escape(event.data["text"]), highlight=False)
    elif event.type == "error":
        console.print(f"[bold red]error:[/] {escape(event.data['message'])}")
    return 2 if event.type == "error" else 0


def name_segments_cmd(
    workspace: WorkspaceOpt = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these sources.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Name and describe the predictors' segments (stored as the `segment_names` table)."""
    from assistant.llm.backends import create_backend
    from assistant.tools.segments import name_segments

    def action() -> Any:
        backend = create_backend(get_settings().llm, progress=sys.stderr.isatty())
        try:
            return name_segments(workspace_path(workspace), backend, source)
        finally:
            backend.close()

    def render(result: Any) -> None:
        if result.skipped:
            console.print(f"[yellow]skipped:[/] {escape(result.skipped)}")
        for row in result.rows:
            console.print(f"{row['source']} {row['segment']}: [bold]{escape(row['name'])}[/] "
                          f"— {escape(row['text'])} [dim]({row['badge']} · {row['status']})[/]",
                          highlight=False)
            _print_sources(row.get("sources", []))

    _emit(run_guarded(action), as_json, render)


def eval_cmd(
    workspace: WorkspaceOpt = None,
    out: Annotated[Path, typer.Option(help="Report path.")]
    = Path("benchmarks/results/assistant_eval.json"),
    users: Annotated[int, typer.Option(help="Users for summary/persona/explain.")] = 20,
    questions: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    skip_users: Annotated[bool, typer.Option(help="Only the operator questions.")] = False,
    build: Annotated[bool, typer.Option(help="First ingest every shared dataset into the "
                                        "workspace and train + score taobao (quick).")]
    = False,
    shared: Annotated[Path, typer.Option(help="The shared data folder (for --build).")]
    = Path("../shared/data"),
    users_from: Annotated[Path | None, typer.Option(
        help="Reuse the user-tool records of an earlier complete report.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate the tools on the workspace (gold answers computed independently with pandas)."""
    from assistant.evaluation.runner import run_evaluation
    from assistant.evaluation.workspace import build_eval_workspace

    def action() -> Any:
        if build:
            build_eval_workspace(workspace_path(workspace), shared)
        return run_evaluation(workspace_path(workspace), out, n_users=0 if skip_users else users,
                              max_questions=questions, progress=sys.stderr.isatty(),
                              users_from=users_from, llm_settings=get_settings().llm)

    report = run_guarded(action)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    console.print_json(json.dumps(report["summary"], default=str))
    console.print(f"report written to {out}")


def eval_operators_cmd(
    workspace: WorkspaceOpt = None,
    split: Annotated[str, typer.Option(help="Question split: dev, test, or an extension "
                                     "set dev2 / dev3 / dev4 / dev5 "
                                     "(questions_devN.jsonl).")] = "dev",
    mode: Annotated[str, typer.Option(help="rules (code only), llm (as shipped: the LLM plans "
                                      "what code cannot read with certainty), llm-always, "
                                      "both (rules + llm) or all.")] = "both",
    limit: Annotated[int | None, typer.Option(help="Only the first N questions (a partial "
                                              "report, not for reported figures).")] = None,
    out: Annotated[Path | None, typer.Option(help="Report path [benchmarks/results/"
                                             "operator_eval_<split>.json].")] = None,
    build: Annotated[bool, typer.Option(help="First ingest the three raw files the gold is "
                                        "computed from (taobao, rees46, musical_instruments).")]
    = False,
    shared: Annotated[Path | None, typer.Option(help="The shared data folder [env "
                                                "INSIGHT_SHARED_DATA, else ../shared/data].")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Score `ask` on the operator question set (strict and lenient) and write the report."""
    from assistant.evaluation.operator_eval import evaluate_operators

    report = run_guarded(lambda: evaluate_operators(
        workspace_path(workspace), split, mode, limit, out, build, shared,
        progress=sys.stderr.isatty()))
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    heads = {m: {k: v for k, v in s.items() if k != "strict"} for m, s in report["modes"].items()}
    console.print_json(json.dumps(heads, default=str))
    console.print(f"report written to {report['report_path']}")


def register(app: typer.Typer) -> None:
    """Add the assistant tool commands to the main `insight` app."""
    app.command("ask")(ask_cmd)
    app.command("summary")(summary_cmd)
    app.command("persona")(persona_cmd)
    app.command("explain")(explain_cmd)
    app.command("copy")(copy_cmd)
    app.command("chat")(chat_cmd)
    app.command("name-segments")(name_segments_cmd)
    app.command("eval")(eval_cmd)
    app.command("eval-operators")(eval_operators_cmd)
