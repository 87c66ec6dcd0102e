"""Making untrusted text safe to show: reviews, product text and LLM output.

Everything the app displays from data or from the model passes through `text_md` (for Markdown
and chat messages) or `text_html` (inside HTML): HTML is escaped, control characters dropped and
Markdown's link / image / emphasis syntax neutralised, so a review or an answer can neither run
script, load a remote image (a tracking pixel) nor fake a link. Reviewer names are masked unless
the viewer's role may see them (`ui.access`).

Every CSV the app writes goes through `write_csv`, which passes every cell of every column
through `csv_cell`: a text cell starting with a spreadsheet formula character (= + - @, tab or
carriage return, also after leading whitespace) gets a leading single quote, so Excel or LibreOffice
shows it as text instead of running it. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import html
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~>])")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def reviewer(name: Any, masked: bool = True) -> str:
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


def csv_cell(value: Any) -> str | int | float:
    """One exported cell: numbers as they are, text cleaned and formula-neutralised."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = plain(value)
    if text[:1] in FORMULA_START or text.lstrip()[:1] in FORMULA_START:
        return "'" + text
    return text


def write_csv(folder: Path, prefix: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> Path:
    """A new CSV file in `folder` (never a caller-named path); every cell through `csv_cell`."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, path returned
        "w", newline="", suffix=".csv", prefix=prefix, dir=folder, delete=False)
    with handle:
        writer = csv.writer(handle)
        writer.writerow([csv_cell(c) for c in columns])
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
    return Path(handle.name)
