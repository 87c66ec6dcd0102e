"""The Customer tab: one user's card, timeline, scores against the segment, items and reviews.

Looking a user up is pure SQL (fast, many at once); the cited briefing (`user_summary`) and the
"why?" of a predicted item (`explain`) call the LLM and stream, under the LLM concurrency limit.
Reviewer names and listed user ids are masked by the viewer's role (`ui.access`): the picker
offers pseudonyms to masked roles, and a pseudonym or a typed raw id both look the user up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import pandas as pd

from assistant.facts import user_facts
from assistant.llm.errors import LLMError
from assistant.tools.explain import explain
from assistant.tools.summary import user_summary
from core.errors import InputError
from ui import charts, data
from ui.access import Access, hide_user_id
from ui.context import AppContext
from ui.render import card_html, citations_html, prose_html
from ui.safe import reviewer, text_html
from ui.streaming import stream_tool

log = logging.getLogger(__name__)

CARD_FACTS = ("events", "distinct_items", "views", "carts", "favs", "purchases",
              "reviews_written", "first_activity", "last_activity", "sessions", "purchase_spend",
              "top_category", "top_brand", "mean_rating_given", "ratings_given")
ITEM_COLUMNS = ["rank", "item_id", "title", "score"]


def reviews_html(reviews: list[dict[str, Any]], masked: bool = True) -> str:
    """The user's reviews as an escaped HTML table, reviewer names masked by default."""
    if not reviews:
        return "<p class='bi-note'>No reviews from this user.</p>"
    rows = "".join(
        f"<tr><td>{text_html(r.get('date'))}</td><td>{text_html(r.get('rating'))}</td>"
        f"<td>{text_html(r.get('title') or r.get('item_id'), 60)}</td>"
        f"<td><details><summary><b>{text_html(r.get('summary'), 200)}</b> "
        f"{text_html(r.get('text'), 160)}</summary>{text_html(r.get('text'), 5000)}</details>"
        f"</td><td>{text_html(reviewer(r.get('reviewer_name'), masked))}</td></tr>"
        for r in reviews)
    return ("<table class='bi-table'><tr><th>date</th><th>rating</th><th>item</th>"
            f"<th>review</th><th>reviewer</th></tr>{rows}</table>")


def error_html(message: str) -> str:
    """A one-line error box (escaped)."""
    return f"<div class='bi-error'>⚠ {text_html(message, 500)}</div>"


def lookup(ctx: AppContext, key: str, access: Access) -> tuple[Any, ...]:
    """Everything about one user that SQL gives: card, charts, items, reviews.

    `key` is "source/id" or a bare id, raw or a pseudonym the app handed out; the card shows
    the id as the viewer gave it, reviewer names as their role allows.
    """
    source, shown = data.split_user_key(key or "")
    source, user_id = access.pseudonyms.resolve(source, shown)
    blank = charts.empty("look up a customer")
    if not user_id:
        return (error_html("type a user id (or pick one)"), blank, blank, blank,
                pd.DataFrame(columns=ITEM_COLUMNS), gr.update(choices=[], value=None), "",
                None)
    try:
        with ctx.connect() as con:
            facts = user_facts(con, user_id, source, n_reviews=0)
            source = facts.source
            segment = facts.scores.get("segment")
            scores = data.segment_scores(con, source, segment)
            frame = data.timeline(con, source, user_id)
            reviews = data.user_reviews(con, source, user_id)
    except InputError as exc:
        message = hide_user_id(str(exc), user_id, shown)
        return (error_html(message), blank, blank, blank, pd.DataFrame(columns=ITEM_COLUMNS),
                gr.update(choices=[], value=None), "", None)
    rows = [("source", source), *[(k.replace("_", " "), facts.facts.get(k))
                                  for k in CARD_FACTS],
            ("purchase intent (next day)", facts.scores.get("intent_probability")),
            ("churn risk", facts.scores.get("churn_risk")), ("segment", segment),
            ("model", facts.scores.get("model_version")),
            ("scored at", facts.scores.get("scored_at"))]
    note = None if facts.scores else "No scores yet: run `insight train` and `insight score`."
    card = card_html(f"Customer {shown}", rows, note)
    where = f"segment {segment}" if segment is not None else "all users"
    intent = charts.distribution(scores["intent_p_any"], facts.scores.get("intent_probability"),
                                 f"Purchase intent in {where}", "intent")
    churn = charts.distribution(scores["churn_risk"], facts.scores.get("churn_risk"),
                                f"Churn risk in {where}", "churn risk")
    items = pd.DataFrame([{k: i.get(k) for k in ITEM_COLUMNS} for i in facts.top_items],
                         columns=ITEM_COLUMNS)
    choices = [(f"{i['rank']}. {i['item_id']}" + (f" · {str(i['title'])[:40]}" if i.get("title")
                                                   else ""), i["item_id"])
               for i in facts.top_items]
    return (card, charts.timeline(frame, f"Activity of {shown}"), intent, churn, items,
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            reviews_html(reviews, not access.unmask),
            {"source": source, "user_id": user_id, "shown": shown})


def prose_stream(ctx: AppContext, waiting: str,
                 run: Callable[[Any, Any, Any, Callable[[str], None]], Any],
                 text_of: Callable[[Any], str], masked: bool,
                 head: Callable[[Any], str] | None = None,
                 scrub: Callable[[str], str] = str) -> Iterator[tuple[str, str]]:
    """Stream a prose tool (`run(con, backend, retriever, on_chunk)`), then its citations;
    `scrub` rewrites everything shown (hides an id the viewer did not give)."""
    yield prose_html(waiting, done=False), ""
    try:
        with ctx.connect() as con:
            backend = ctx.require_backend()
            retriever = ctx.retriever(con)
            for progress in stream_tool(lambda sink: run(con, backend, retriever, sink)):
                if not progress.done:
                    yield prose_html(scrub(progress.text), done=False), ""
                    continue
                result = progress.result
                text = text_of(result)
                yield (scrub((head(result) if head else "")
                             + prose_html(text, result.notice)),
                       scrub(citations_html(con, text, result.to_dict(), masked)))
    except (InputError, LLMError) as exc:
        yield error_html(scrub(str(exc))), ""


def _scrub_for(who: dict[str, str]) -> Callable[[str], str]:
    return lambda text: hide_user_id(text, who["user_id"], who.get("shown", who["user_id"]))


def summary_stream(ctx: AppContext, who: dict[str, str] | None,
                   masked: bool) -> Iterator[tuple[str, str]]:
    """The cited briefing, streamed, then its citations."""
    if not who:
        yield "", ""
        return
    yield from prose_stream(
        ctx, "Writing a briefing…",
        lambda con, backend, retriever, sink: user_summary(
            who["user_id"], who["source"], con=con, backend=backend, retriever=retriever,
            on_chunk=sink, prose_max_tokens=ctx.settings.llm.prose_max_tokens),
        lambda result: result.summary, masked, scrub=_scrub_for(who))


def explain_stream(ctx: AppContext, who: dict[str, str] | None, item_id: str | None,
                   masked: bool) -> Iterator[tuple[str, str]]:
    """Why an item is suggested, streamed, then its evidence."""
    if not who or not item_id:
        yield error_html("look up a customer and pick one of the predicted items"), ""
        return
    yield from prose_stream(
        ctx, f"Explaining item {item_id}…",
        lambda con, backend, retriever, sink: explain(
            who["user_id"], item_id, who["source"], con=con, backend=backend,
            retriever=retriever, on_chunk=sink,
            prose_max_tokens=ctx.settings.llm.prose_max_tokens),
        lambda result: result.explanation, masked, scrub=_scrub_for(who))


def build(ctx: AppContext, users: list[tuple[str, str]]) -> dict[str, Any]:
    """Lay out the Customer tab (`users`: the picker's choices, masked until the page loads
    and the viewer's role is known); returns components others reuse."""
    with gr.Row():
        pick = gr.Dropdown(choices=users, value=None, allow_custom_value=True, scale=6,
                           label="Customer (source/user id, or just the id)",
                           elem_id="customer-id")
        go = gr.Button("Look up", variant="primary", scale=1, elem_id="customer-go")
    with gr.Row():
        card = gr.HTML(elem_id="customer-card")
        with gr.Column():
            summary = gr.HTML(label="Briefing", elem_id="customer-summary")
            summary_refs = gr.HTML()
    with gr.Row():
        timeline = gr.Plot(label="Activity timeline", show_label=False, scale=2)
        intent = gr.Plot(label="Purchase intent vs segment", show_label=False, scale=1)
        churn = gr.Plot(label="Churn risk vs segment", show_label=False, scale=1)
    gr.Markdown("#### Top predicted items")
    items = gr.Dataframe(interactive=False, wrap=True, elem_id="customer-items")
    with gr.Row():
        item = gr.Dropdown(label="Item", choices=[], scale=4, elem_id="customer-item")
        why = gr.Button("Why?", scale=1, elem_id="customer-why")
    explanation = gr.HTML(elem_id="customer-why-text")
    explanation_refs = gr.HTML()
    gr.Markdown("#### Reviews")
    reviews = gr.HTML(elem_id="customer-reviews")
    who = gr.State(None)
    limit = ctx.settings.ui.llm_concurrency_limit

    def on_select(frame: pd.DataFrame, event: gr.SelectData) -> Any:
        row = event.index[0] if isinstance(event.index, list | tuple) else event.index
        return gr.update(value=str(frame.iloc[int(row)]["item_id"]))

    items.select(on_select, inputs=items, outputs=item, api_name=False)

    def on_lookup(key: str, request: gr.Request) -> tuple[Any, ...]:
        return lookup(ctx, key, ctx.access(request))

    def on_summary(w: dict[str, str] | None, request: gr.Request
                   ) -> Iterator[tuple[str, str]]:
        yield from summary_stream(ctx, w, not ctx.access(request).unmask)

    def on_why(w: dict[str, str] | None, i: str | None, request: gr.Request
               ) -> Iterator[tuple[str, str]]:
        yield from explain_stream(ctx, w, i, not ctx.access(request).unmask)

    looked = go.click(on_lookup, inputs=pick,
                      outputs=[card, timeline, intent, churn, items, item, reviews, who],
                      api_name="customer")
    looked.then(on_summary, inputs=who, outputs=[summary, summary_refs],
                concurrency_id="llm", concurrency_limit=limit, api_name=False)
    why.click(on_why, inputs=[who, item], outputs=[explanation, explanation_refs],
              concurrency_id="llm", concurrency_limit=limit, api_name="why")
    return {"pick": pick, "go": go}
