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


def cited_review_ids(text: str, result: dict[str, Any] | None) -> list[str]:
    """Review ids cited in `text`, else the reviews the result was built on."""
    ids = [ident for kind, ident in extract_citations(text) if kind == "R"]
    if not ids and result:
        ids = [str(r["review_id"]) for r in result.get("reviews") or [] if r.get("review_id")]
    return list(dict.fromkeys(ids))[:8]


def cited_facts(text: str, result: dict[str, Any] | None) -> dict[str, Any]:
    """The `[F:key]` facts cited in `text`, with their values from the result."""
    facts = (result or {}).get("facts") or {}
    keys = [ident for kind, ident in extract_citations(text) if kind == "F"]
    return {k: facts[k] for k in dict.fromkeys(keys) if k in facts}


def _review_title(review: dict[str, Any]) -> str:
    rating = f" · {review['rating']:g}★" if review.get("rating") is not None else ""
    date = f" · {review['date']}" if review.get("date") else ""
    return f"Review R:{review['review_id'][:12]}{rating}{date} · item {review['item_id']}"


def citation_messages(con: duckdb.DuckDBPyConnection, text: str,
                      result: dict[str, Any] | None, masked: bool) -> list[gr.ChatMessage]:
    """Collapsed chat messages: one per cited review (full text), one for the cited facts."""
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
    """The same citations as `<details>` blocks for the non-chat views."""
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
