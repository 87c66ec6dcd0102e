"""Shared rendering: tool steps, citations expandable to the review text, HTML cards.

All text from data or the model goes through `ui.safe` before it reaches a component.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import gradio as gr

from assistant.grounding import extract_citations
from ui import data
from ui.safe import reviewer, text_html, text_md

STATUS_ICON = {"ok": "✓", "error": "✗", "skipped": "–", "fallback": "↺"}
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp)(?=://)|\b(www)(?=\.)")


def no_autolinks(markdown: str) -> str:
    """Escaped Markdown whose bare URLs stay text: the chatbot renders GFM, which links
    `http://…` and `www.…` without any Markdown syntax; a backslash before the `:` / `.`
    (invisible once rendered) keeps a URL in a review from becoming a link."""
    return _AUTOLINK.sub(lambda m: f"{m.group(1) or m.group(2)}\\", markdown)


def chat_md(value: Any, limit: int | None = None) -> str:
    """Untrusted text for a chat message: `text_md`, then `no_autolinks`."""
    return no_autolinks(text_md(value, limit))


def step_message(step: dict[str, Any], parent_id: str | None = None) -> gr.ChatMessage:
    """A tool step as a collapsed "thought" in the chat: title, status, duration, detail."""
    status = str(step.get("status", "ok"))
    title = f"{STATUS_ICON.get(status, '•')} {text_md(step.get('title', 'step'), 80)}"
    detail = text_md(step.get("detail") or "", 600) or f"status: {status}"
    metadata: dict[str, Any] = {"title": title, "status": "done", "log": status,
                                "duration": float(step.get("duration_s") or 0.0)}
    if parent_id is not None:
        metadata["parent_id"] = parent_id
    return gr.ChatMessage(role="assistant", content=detail, metadata=metadata)


def numbered_sources(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The sources a prose result's numbered citations ("[1]") point to (empty for results
    that cite by tag or not at all)."""
    return list((result or {}).get("sources") or [])


def cited_review_ids(text: str, result: dict[str, Any] | None) -> list[str]:
    """Review ids cited in `text` (by tag or by number), else the reviews the result was
    built on."""
    ids = [ident for kind, ident in extract_citations(text) if kind == "R"]
    ids += [str(s["review_id"]) for s in numbered_sources(result) if s.get("kind") == "review"]
    if not ids and result:
        ids = [str(r["review_id"]) for r in result.get("reviews") or [] if r.get("review_id")]
    return list(dict.fromkeys(ids))[:8]


def cited_facts(text: str, result: dict[str, Any] | None) -> dict[str, Any]:
    """The facts cited in `text` (`[F:key]` tags, or numbered sources), with their values from
    the result."""
    facts = (result or {}).get("facts") or {}
    keys = [ident for kind, ident in extract_citations(text) if kind == "F"]
    keys += [str(s["id"])[2:] for s in numbered_sources(result) if s.get("kind") == "fact"]
    return {k: facts[k] for k in dict.fromkeys(keys) if k in facts}


def _review_title(review: dict[str, Any]) -> str:
    rating = f" · {review['rating']:g}★" if review.get("rating") is not None else ""
    date = f" · {review['date']}" if review.get("date") else ""
    return f"Review R:{review['review_id'][:12]}{rating}{date} · item {review['item_id']}"


def _source_body(source: dict[str, Any], reviews: dict[str, dict[str, Any]]) -> str:
    """What a numbered source expands to: a fact's value, a review's full text (raw: the
    caller escapes it for its view)."""
    review = reviews.get(str(source.get("review_id")))
    if review is not None:
        return " — ".join(x for x in (review.get("summary"), review.get("text")) if x)
    return str(source.get("value", source.get("snippet", "")))


def _reviewer_of(source: dict[str, Any], reviews: dict[str, dict[str, Any]]) -> Any:
    return (reviews.get(str(source.get("review_id"))) or {}).get("reviewer_name")


def source_title(source: dict[str, Any]) -> str:
    """"[2] review of B00X, rated 4, 2014-01-02" / "[1] reviews written" (untrusted parts
    escaped by the caller)."""
    return f"[{source.get('n')}] {source.get('kind', 'source')}: {source.get('label', '')}"


def citation_messages(con: duckdb.DuckDBPyConnection, text: str,
                      result: dict[str, Any] | None, masked: bool) -> list[gr.ChatMessage]:
    """Collapsed chat messages: for numbered citations one per source ("[1] …", expanding to
    the fact's value or the review's full text) after the claims badge; otherwise one per
    cited review (full text) and one for the cited facts."""
    sources = numbered_sources(result)
    if sources:
        reviews = data.reviews_by_id(con, cited_review_ids(text, result))
        messages = [gr.ChatMessage(role="assistant", content=chat_md(result.get("badge", "")),
                                   metadata={"title": "Claims verified", "status": "done"})] \
            if result and result.get("badge") else []
        for source in sources:
            body = chat_md(_source_body(source, reviews), 4000)
            if source.get("kind") == "review":
                name = reviewer(_reviewer_of(source, reviews), masked)
                body += f"\n\n_reviewer: {chat_md(name)}_"
            messages.append(gr.ChatMessage(role="assistant", content=body, metadata={
                "title": text_md(source_title(source), 200), "status": "done"}))
        return messages
    messages = []
    facts = cited_facts(text, result)
    if facts:
        lines = "\n".join(f"- **F:{chat_md(k)}** {chat_md(v, 300)}" for k, v in facts.items())
        messages.append(gr.ChatMessage(role="assistant", content=lines, metadata={
            "title": f"Facts cited ({len(facts)})", "status": "done"}))
    reviews = data.reviews_by_id(con, cited_review_ids(text, result))
    for review in reviews.values():
        body = " — ".join(x for x in (review.get("summary"), review.get("text")) if x)
        content = (f"{chat_md(body, 4000)}\n\n_reviewer: "
                   f"{chat_md(reviewer(review.get('reviewer_name'), masked))}_")
        messages.append(gr.ChatMessage(role="assistant", content=content, metadata={
            "title": text_md(_review_title(review)), "status": "done"}))
    return messages


def citations_html(con: duckdb.DuckDBPyConnection, text: str, result: dict[str, Any] | None,
                   masked: bool) -> str:
    """The same citations as `<details>` blocks for the non-chat views: numbered sources
    under the claims badge, or the cited facts and reviews."""
    sources = numbered_sources(result)
    if sources:
        reviews = data.reviews_by_id(con, cited_review_ids(text, result))
        head = (f"<p class='bi-note'>{text_html(result.get('badge'))}</p>"
                if result and result.get("badge") else "")
        items = []
        for source in sources:
            who = (f"<p><i>reviewer: {text_html(reviewer(_reviewer_of(source, reviews), masked))}"
                   "</i></p>" if source.get("kind") == "review" else "")
            items.append(f"<details><summary>{text_html(source_title(source), 200)}</summary>"
                         f"<p>{text_html(_source_body(source, reviews), 4000)}</p>{who}"
                         "</details>")
        return head + "".join(items)
    parts = []
    facts = cited_facts(text, result)
    if facts:
        items = "".join(f"<li><b>F:{text_html(k)}</b> {text_html(v, 300)}</li>"
                        for k, v in facts.items())
        parts.append(f"<details><summary>Facts cited ({len(facts)})</summary><ul>{items}</ul>"
                     "</details>")
    for review in data.reviews_by_id(con, cited_review_ids(text, result)).values():
        body = " — ".join(x for x in (review.get("summary"), review.get("text")) if x)
        parts.append(f"<details><summary>{text_html(_review_title(review))}</summary>"
                     f"<p>{text_html(body, 4000)}</p><p><i>reviewer: "
                     f"{text_html(reviewer(review.get('reviewer_name'), masked))}</i></p>"
                     "</details>")
    return "".join(parts)


def card_html(title: str, rows: list[tuple[str, Any]], note: str | None = None) -> str:
    """A small key/value card (every value escaped)."""
    body = "".join(f"<tr><th>{text_html(k)}</th><td>{text_html(v, 300)}</td></tr>"
                   for k, v in rows if v not in (None, "", []))
    extra = f"<p class='bi-note'>{text_html(note)}</p>" if note else ""
    return (f"<div class='bi-card'><h3>{text_html(title)}</h3><table>{body}</table>{extra}"
            "</div>")


def prose_html(text: str, notice: str | None = None, done: bool = True) -> str:
    """LLM prose (escaped) with its notice; `done=False` marks a draft still streaming."""
    note = f"<p class='bi-note'>{text_html(notice)}</p>" if notice else ""
    state = "done" if done else "streaming"
    return f"<div class='bi-prose' data-state='{state}'><p>{text_html(text)}</p>{note}</div>"
