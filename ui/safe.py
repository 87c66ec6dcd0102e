"""Making untrusted text safe to show: reviews, product text and LLM output.

Everything the app displays from data or from the model passes through `text_md` (for Markdown
and chat messages) or `text_html` (inside HTML): HTML is escaped, control characters dropped and
Markdown's link / image / emphasis syntax neutralised, so a review or an answer can neither run
script, load a remote image (a tracking pixel) nor fake a link. Reviewer names are masked unless
the viewer turns masking off.
"""

from __future__ import annotations

import html
import re
from typing import Any

MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~>])")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(value: Any, limit: int | None = None) -> str:
    """`value` as text: entities decoded (reviews often hold `&#34;`), no control characters,
    cut to `limit` characters. Decoding first is safe: every display path escapes after."""
    text = CONTROL.sub("", html.unescape("" if value is None else str(value)))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def text_html(value: Any, limit: int | None = None) -> str:
    """Untrusted text for an HTML context (escaped, quotes included)."""
    return html.escape(plain(value, limit), quote=True)


def text_md(value: Any, limit: int | None = None) -> str:
    """Untrusted text for a Markdown context: HTML escaped, Markdown syntax backslashed."""
    escaped = html.escape(plain(value, limit), quote=False)
    return MD_SPECIAL.sub(r"\\\1", escaped)


def mask_name(name: Any) -> str:
    """A reviewer name masked to initials: "Jane Doe" → "J*** D***"."""
    text = plain(name).strip()
    if not text:
        return "(anonymous)"
    return " ".join(f"{part[0]}***" for part in text.split()[:3])


def reviewer(name: Any, masked: bool) -> str:
    """A reviewer name as displayed: masked by default."""
    return mask_name(name) if masked else (plain(name, 80).strip() or "(anonymous)")


def md_table(columns: list[str], rows: list[dict[str, Any]], limit: int = 20) -> str:
    """A Markdown table of `rows` (every cell escaped), at most `limit` rows."""
    if not columns or not rows:
        return ""
    head = "| " + " | ".join(text_md(c) for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(text_md(_cell(row.get(c)), 80) for c in columns) + " |"
            for row in rows[:limit]]
    more = [f"\n_{len(rows) - limit} more rows not shown._"] if len(rows) > limit else []
    return "\n".join([head, rule, *body, *more])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)
