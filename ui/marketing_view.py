"""The Marketing tab: copy variants for a segment or a user about one item, on one channel.

Each variant is shown with numbered citations (expanding to the fact or review) and its claims
badge, and the whole set can be downloaded as CSV: a new file in the app's own temporary
folder, never a path the user names, every cell formula-neutralised (`ui.safe.write_csv`). Only
roles in `privacy.export_roles` get the file (the download is hidden for the others and the
handler refuses); a customer target is exported under its pseudonym for masked roles
(`ui.access`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.llm.errors import LLMError
from assistant.tools.marketing import CHANNELS, MAX_VARIANTS, marketing_copy
from core.errors import InputError
from ui import audience_view, data
from ui.access import Access, hide_user_id
from ui.context import AppContext
from ui.customer_view import error_html
from ui.safe import plain, text_html, write_csv
from ui.streaming import stream_tool

TONES = ["friendly", "formal", "playful", "enthusiastic", "calm"]
CSV_COLUMNS = ["channel", "tone", "target", "item_id", "variant", "headline", "body",
               "facts_used"]


def _forms(value: Any) -> list[str]:
    if isinstance(value, float):
        return [f"{value:.2f}", f"{value:g}"]
    text = str(value).strip()
    forms = [text] if len(text) >= 3 else []
    if len(text) > 30:  # long titles are usually quoted in part
        forms.append(text[:30])
    return forms


def facts_used(variant: dict[str, str], facts: dict[str, Any]) -> dict[str, Any]:
    """The facts whose value (or the start of a long value) appears in the variant's text."""
    text = f"{variant.get('headline', '')} {variant.get('body', '')}".lower()
    return {k: v for k, v in facts.items()
            if v not in (None, "") and any(f.lower() in text for f in _forms(v))}


def _sources_html(sources: list[dict[str, Any]]) -> str:
    """A variant's numbered citations, each expanding to the fact's value or the review."""
    items = []
    for source in sources:
        body = source.get("snippet") if source.get("kind") == "review" else source.get("value")
        title = f"[{source.get('n')}] {source.get('kind', 'source')}: {source.get('label', '')}"
        items.append(f"<details><summary>{text_html(title, 200)}</summary>"
                     f"<p>{text_html(body, 1000)}</p></details>")
    return "".join(items) or "<p>none</p>"


def _variant_card(number: int, variant: dict[str, Any]) -> str:
    """One variant: headline, body with numbered citations, its badge and its sources."""
    text = variant.get("text") or variant.get("body", "")
    sources = variant.get("sources") or []
    head = (f"<p class='bi-note'>{text_html(variant['badge'])} · "
            f"{text_html(variant.get('status', ''))}</p>" if variant.get("badge") else "")
    return (f"<div class='bi-card bi-variant'><h4>Variant {number}: "
            f"{text_html(variant['headline'])}</h4><p>{text_html(text)}</p>{head}"
            f"<details><summary>Facts used ({len(sources)})</summary>"
            f"{_sources_html(sources)}</details></div>")


def variants_html(result: Any) -> str:
    """Variant cards (body with numbered citations, the claims badge, the sources each
    citation expands to), then the drafts refused and the facts the model was given."""
    facts = {**{f"item.{k}": v for k, v in result.item.items()},
             **{f"audience.{k}": v for k, v in result.audience.items()}}
    cards = [_variant_card(n, v) for n, v in enumerate(result.variants, start=1)]
    given = "".join(f"<li><b>{text_html(k)}</b>: {text_html(v, 300)}</li>"
                    for k, v in facts.items())
    notice = f"<p class='bi-note'>{text_html(result.notice)}</p>" if result.notice else ""
    if getattr(result, "badge", None):
        notice += (f"<p class='bi-note'>{text_html(result.badge)} · status "
                   f"{text_html(result.status)}</p>")
    if result.rejected:
        reasons = "".join(f"<li>{text_html(r.get('headline'), 80)}: "
                          f"{text_html('; '.join(r.get('violations', [])), 300)}</li>"
                          for r in result.rejected)
        notice += (f"<details><summary>{len(result.rejected)} generated variant(s) rejected "
                   f"by the checks</summary><ul>{reasons}</ul></details>")
    return (f"<p>{len(result.variants)} variant(s) for {text_html(result.target)} · "
            f"{text_html(result.channel)} · {text_html(result.tone)}</p>{notice}"
            + "".join(cards)
            + f"<details><summary>All facts given to the model</summary><ul>{given}</ul>"
              "</details>")


def export_csv(result: Any, folder: Path, access: Access,
               customer: tuple[str | None, str] | None = None) -> Path:
    """The variants as a new CSV file inside `folder` (the app's temporary folder).

    Refused (`InputError`) for a role that may not export; `customer` (source, real id) of a
    user target is written as this viewer may see it (a pseudonym for masked roles).
    """
    if not access.export:
        raise InputError(f"the role {access.role!r} may not export data")
    facts = {**{f"item.{k}": v for k, v in result.item.items()},
             **{f"audience.{k}": v for k, v in result.audience.items()}}
    real, shown = (customer[1], access.user_id(*customer)) if customer else ("", "")

    def hide(text: str) -> str:
        return hide_user_id(text, real, shown)

    rows = []
    for number, variant in enumerate(result.variants, start=1):
        used = "; ".join(f"{k}={plain(v, 100)}" for k, v in facts_used(variant,
                                                                         facts).items())
        rows.append([result.channel, result.tone, hide(str(result.target)), result.item_id,
                     number, hide(variant["headline"]), hide(variant["body"]), hide(used)])
    return write_csv(folder, "copy-variants-", CSV_COLUMNS, rows)


def generate(ctx: AppContext, folder: Path, access: Access, target: str,
             segment_key: str | None, user_key: str | None, item_id: str | None, channel: str,
             tone: str, n: float) -> Iterator[tuple[str, Any]]:
    """Run the copy tool and yield the cards and the CSV file (None for a role that may not
    export)."""
    try:
        if not item_id:
            raise InputError("pick or type an item id")
        user_id = source = shown = None
        segment = None
        if target == "user":
            source, shown = data.split_user_key(user_key or "")
            source, user_id = access.pseudonyms.resolve(source, shown)
            if not user_id:
                raise InputError("pick or type a user id")
        else:
            seg_source, _, number = (segment_key or "").rpartition("/")
            if not number.isdigit():
                raise InputError("pick a segment")
            source, segment = seg_source, int(number)
        yield "<p>Writing variants…</p>", None
        with ctx.connect() as con:
            backend = ctx.require_backend()
            final = None
            for progress in stream_tool(lambda sink: marketing_copy(
                    str(item_id), con=con, backend=backend, user_id=user_id, segment=segment,
                    source=source, channel=channel, tone=tone or "friendly",
                    n_variants=int(n), on_chunk=sink)):
                final = progress.result
        assert final is not None
        cards = variants_html(final)
        if user_id is not None and shown is not None:
            cards = hide_user_id(cards, user_id, shown)
        if not access.export:
            yield cards + (f"<p class='bi-note'>CSV export is not available to the role "
                           f"{text_html(access.role)}.</p>"), None
            return
        customer = (source, user_id) if user_id is not None else None
        yield cards, str(export_csv(final, folder, access, customer))
    except (InputError, LLMError) as exc:
        message = str(exc)
        if target == "user" and user_key:
            given_source, given = data.split_user_key(user_key)
            real = access.pseudonyms.resolve(given_source, given)[1]
            message = hide_user_id(message, real, given)
        yield error_html(message), None


def build(ctx: AppContext, users: list[tuple[str, str]],
          segments: list[tuple[str, str]]) -> dict[str, Any]:
    """Lay out the Marketing tab (`users`: the picker's choices, masked until the page loads);
    returns the user picker and the download, which the page load sets per role."""
    folder = Path(tempfile.mkdtemp(prefix="insight-ui-exports-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # exports live as long as the app
    first_source = segments[0][1].rpartition("/")[0] if segments else None
    with ctx.connect() as con:
        first_items = data.popular_items(con, first_source) if first_source else []
    with gr.Row():
        target = gr.Radio(["segment", "user"], value="segment" if segments else "user",
                          label="Target", elem_id="copy-target")
        segment = gr.Dropdown(segments, value=segments[0][1] if segments else None,
                              label="Segment", visible=bool(segments), elem_id="copy-segment")
        user = gr.Dropdown(users, value=None, allow_custom_value=True, label="User",
                           visible=not segments, elem_id="copy-user")
    with gr.Row():
        item = gr.Dropdown(first_items, value=first_items[0][1] if first_items else None,
                           allow_custom_value=True, label="Item", elem_id="copy-item")
        channel = gr.Radio(list(CHANNELS), value="email", label="Channel", elem_id="copy-channel")
        tone = gr.Dropdown(TONES, value="friendly", allow_custom_value=True, label="Tone")
        count = gr.Slider(1, MAX_VARIANTS, value=2, step=1, label="Variants")
    go = gr.Button("Generate", variant="primary", elem_id="copy-go")
    out = gr.HTML(elem_id="copy-variants")
    download = gr.File(label="Export (CSV)", interactive=False, elem_id="copy-csv",
                       visible=False)  # shown on page load to roles that may export

    def on_target(kind: str, seg_key: str | None, user_key: str | None) -> tuple[Any, ...]:
        source = (seg_key or "").rpartition("/")[0] if kind == "segment" else \
            data.split_user_key(user_key or "")[0]
        return (gr.update(visible=kind == "segment"), gr.update(visible=kind == "user"),
                items_for(source))

    def items_for(source: str | None) -> Any:
        if not source:
            return gr.update()
        with ctx.connect() as con:
            choices = data.popular_items(con, source)
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    def on_generate(kind: str, seg_key: str | None, user_key: str | None, item_id: str | None,
                    chan: str, how: str, n: float, request: gr.Request
                    ) -> Iterator[tuple[str, Any]]:
        yield from generate(ctx, folder, ctx.access(request), kind, seg_key, user_key, item_id,
                            chan, how, n)

    target.change(on_target, inputs=[target, segment, user], outputs=[segment, user, item],
                  api_name=False)
    segment.change(lambda k: items_for((k or "").rpartition("/")[0]), inputs=segment,
                   outputs=item, api_name=False)
    user.change(lambda k: items_for(data.split_user_key(k or "")[0]), inputs=user, outputs=item,
                api_name=False)
    go.click(on_generate, inputs=[target, segment, user, item, channel, tone, count],
             outputs=[out, download], concurrency_id="llm",
             concurrency_limit=ctx.settings.ui.llm_concurrency_limit, api_name="copy")
    with gr.Accordion("Audience: build, inspect, write copy, export", open=False,
                      elem_id="aud-step"):
        audience_view.build(ctx, folder, segments, generate)
    return {"user": user, "download": download}
