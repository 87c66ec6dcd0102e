"""The Marketing tab's audience step: build an audience, inspect it, write copy for it, export it.

The audience comes from `predictors.audience.build_audience` (the library behind `insight
audience`): the users most likely to act on an item, a category, a brand or a goal, with the
expected conversions and a temporal backtest. Every number shown is the library's; bad input
gets the library's own `InputError` text. User ids in the table and in the CSV are shown as
this viewer may see them (`ui.access`: pseudonyms for masked roles); the CSV is written by
`ui.safe.write_csv` (a new file in the app's export folder, every cell formula-neutralised)
and only for roles that may export. Copy for the audience goes through the Marketing tab's own
`marketing_view.generate` (so its checks and its rendering apply unchanged), aimed at the
audience's dominant segment and at the target item (for a category, brand or goal: the
target's item the audience's users touched most).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import gradio as gr
import pandas as pd

from assistant.tools.marketing import CHANNELS, MAX_VARIANTS
from core.errors import InputError
from predictors.audience import Audience, AudienceOptions, AudienceTarget, build_audience
from predictors.audience_scores import GOALS, resolve_target
from store.checkpoints import CHURN, INTENT, current_models
from store.workspace import Workspace
from ui import data
from ui.access import Access
from ui.context import AppContext
from ui.customer_view import error_html
from ui.safe import text_html, write_csv

log = logging.getLogger(__name__)

KINDS = ["item", "category", "brand", "goal"]
GOAL_MODELS = {"winback": CHURN, "convert-carts": INTENT}
"""The model each goal is scored by (a source without it cannot offer the goal)."""
BAND_CHOICES = [("any", ""), ("low", "low"), ("medium", "medium"), ("high", "high")]
TABLE_COLUMNS = ["#", "user", "probability", "segment", "intent band", "churn band",
                 "last active"]
CSV_COLUMNS = ["user_id", "probability", "segment", "intent_band", "churn_band", "intent",
               "churn", "last_active", "score"]
MAX_CHOICES = 30


def _top_values(con: duckdb.DuckDBPyConnection, source: str, column: str
                ) -> list[tuple[str, str]]:
    rows = con.execute(
        f"SELECT {column}, count(*) AS n FROM events WHERE source = ? AND {column} IS NOT NULL "
        f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?", [source, MAX_CHOICES]).fetchall()
    return [(f"{r[0]} ({r[1]:,} events)", str(r[0])) for r in rows]


def source_goals(root: Path, source: str) -> list[tuple[str, str]]:
    """(label, goal) of the goals `source` has the model for (win back: churn; carts: intent)."""
    kinds = {m["kind"] for m in current_models(root) if m["source"] == source}
    return [(f"{goal}: {GOALS[goal]}", goal) for goal, kind in GOAL_MODELS.items()
            if kind in kinds]


def target_choices(con: duckdb.DuckDBPyConnection, root: Path, source: str | None,
                   kind: str) -> list[tuple[str, str]]:
    """(label, value) choices of a target kind in `source`: its busiest items (with titles),
    categories and brands, or the goals it supports; empty when it has none."""
    if not source:
        return []
    if kind == "item":
        return data.popular_items(con, source, MAX_CHOICES)
    if kind in ("category", "brand"):
        return _top_values(con, source, kind)
    if kind == "goal":
        return source_goals(root, source)
    raise InputError(f"unknown target kind {kind!r}; choose from {', '.join(KINDS)}")


def segment_filter_choices(segments: list[tuple[str, str]], source: str | None
                           ) -> list[tuple[str, str]]:
    """The segment filter's choices for `source` ("any" first) from the app's segment picker."""
    return [("any segment", "")] + [(label, key) for label, key in segments
                                     if key.rpartition("/")[0] == source]


def _number(value: Any, what: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None


def make_options(size: Any, segment_key: str | None, churn_band: str | None,
                 intent_band: str | None, active_within: Any,
                 exclude_buyers: bool) -> AudienceOptions:
    """The library's options from the form (blank or zero filters are off); out-of-range
    values are refused by `AudienceOptions.check` with its own message."""
    n = _number(size, "size")
    if n is not None and n != int(n):
        raise InputError(f"size must be a whole number, got {size!r}")
    segment = (segment_key or "").rpartition("/")[2]
    if segment and not segment.lstrip("-").isdigit():
        raise InputError(f"unknown segment {segment_key!r}")
    days = _number(active_within, "last active within (days)")
    options = AudienceOptions(
        size=None if n is None else int(n), segment=int(segment) if segment else None,
        churn_band=churn_band or None, intent_band=intent_band or None,
        active_within_days=days if days else None, exclude_buyers=bool(exclude_buyers))
    options.check()
    return options


def make_audience(ctx: AppContext, source: str | None, kind: str | None, value: str | None,
                  options: AudienceOptions) -> Audience:
    """Build the audience of the form's target (InputError naming what is missing or wrong)."""
    if not source:
        raise InputError("pick a source")
    if not kind:
        raise InputError("pick a target kind: item, category, brand or goal")
    if not value or not str(value).strip():
        raise InputError(f"pick or type a {kind}")
    target = AudienceTarget(kind, str(value).strip())
    return build_audience(Workspace.open(ctx.root), source, target, options)


def user_rows(audience: Audience, access: Access) -> pd.DataFrame:
    """The audience's users as the table shows them: ids as this viewer may see them."""
    rows = [[rank, access.user_id(audience.source, u.user_id), round(u.probability, 4),
             "" if u.segment is None else str(u.segment), u.intent_band or "",
             u.churn_band or "", (u.last_active or "")[:16].replace("T", " ")]
            for rank, u in enumerate(audience.users, start=1)]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def backtest_sentence(bt: dict[str, Any] | None) -> str:
    """What the backtest figures mean, in one plain paragraph (every figure the library's)."""
    if not bt:
        return "No backtest was run, so there is no evidence yet of how well this ranking works."
    text = (f"Replayed at {bt['cutoff'][:16].replace('T', ' ')}: of the top {bt['k']} users "
            f"this method would have picked then, {bt['hits']} ({bt['precision_at_k']:.1%}, "
            f"the precision@{bt['k']}) had the outcome within {bt['horizon']}, against "
            f"{bt['base_rate']:.1%} of all {bt['eligible_users']:,} eligible users. That is a "
            f"lift of {_times(bt['lift'])} over a random pick")
    rivals = [f"{_times(bt.get(f'lift_vs_{name}'))} over {words}" for name, words in (
        ("recent_viewers", "the most recent viewers of the target"),
        ("popularity", "the most active users (popularity)")) if f"lift_vs_{name}" in bt]
    if rivals:
        text += ", " + " and ".join(rivals)
    text += (" (above 1× the audience beats that rule, below 1× it does worse; n/a: the rule "
             "found no one who converted).")
    if bt.get("note"):
        text += f" Note: {bt['note']}."
    return text


def summary_html(audience: Audience) -> str:
    """Size, expected conversions, the backtest table and sentence, and the library's notes."""
    bt = audience.backtest.to_dict() if audience.backtest else None
    head = (f"<p><b>{len(audience.users):,} users</b> for {text_html(audience.target.label)} "
            f"in {text_html(audience.source)} (of {audience.eligible_users:,} eligible) · "
            f"expected conversions <b id='aud-expected'>{audience.expected_conversions:.1f}"
            f"</b> within {text_html(audience.horizon)} "
            f"({text_html(audience.calibration.get('method'))} calibration)</p>"
            f"<p class='bi-note'>Outcome: {text_html(audience.outcome)}</p>")
    table = ""
    if bt:
        cells = [("precision@K", f"{bt['precision_at_k']:.3f} (K = {bt['k']})"),
                 ("base rate", f"{bt['base_rate']:.3f}"),
                 ("lift over random", _times(bt["lift"])),
                 ("lift over recent viewers", _times(bt.get("lift_vs_recent_viewers"))),
                 ("lift over popularity", _times(bt.get("lift_vs_popularity")))]
        table = ("<table class='bi-table' id='aud-backtest'>" + "".join(
            f"<tr><th>{text_html(k)}</th><td>{text_html(v)}</td></tr>" for k, v in cells)
                 + "</table>")
    notes = "".join(f"<p class='bi-note'>note: {text_html(n, 300)}</p>" for n in audience.notes)
    return (f"<div class='bi-card'>{head}{table}<p>{text_html(backtest_sentence(bt))}</p>"
            f"{notes}</div>")


def export_audience_csv(audience: Audience, folder: Path, access: Access) -> Path:
    """The audience as a new CSV file in `folder` (the app's export folder), user ids as this
    viewer may see them and every cell formula-neutralised; InputError for a role that may
    not export."""
    if not access.export:
        raise InputError(f"the role {access.role!r} may not export data")
    rows = [[access.user_id(audience.source, u.user_id), u.probability, u.segment,
             u.intent_band, u.churn_band, u.intent, u.churn, u.last_active, u.score]
            for u in audience.users]
    return write_csv(folder, "audience-", CSV_COLUMNS, rows)


def dominant_segment(audience: Audience) -> tuple[int, int]:
    """(segment, users in it) most common among the audience; InputError when none has one."""
    counts = Counter(u.segment for u in audience.users if u.segment is not None)
    if not counts:
        raise InputError(f"the audience's users have no segment, so copy cannot be aimed at "
                         f"it; run `insight score --source {audience.source}` first")
    segment, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return segment, n


def copy_item(con: duckdb.DuckDBPyConnection, audience: Audience) -> tuple[str, str]:
    """(item id, why) the copy is about: the target item, else the target's item (for
    convert-carts a carted item; for win-back any item) the audience's users touched most."""
    target = audience.target
    if target.kind == "item":
        return target.value, "the target item"
    items = None if target.kind == "goal" else resolve_target(con, audience.source,
                                                             target).items
    cart = target.kind == "goal" and target.value == "convert-carts"
    users = [u.user_id for u in audience.users]
    row = con.execute(
        "SELECT item_id FROM events WHERE source = $s AND list_contains($u, user_id) AND "
        "($i IS NULL OR list_contains($i, item_id)) AND (NOT $c OR event_type = 'cart') "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        {"s": audience.source, "u": users, "i": items, "c": cart}).fetchone()
    if row is None:
        raise InputError(f"the audience's users have no events on {target.label}, so there "
                         "is no item to write about")
    what = {"goal": "carted item" if cart else "item"}.get(target.kind, f"{target.kind}'s item")
    return str(row[0]), f"the {what} the audience's users touched most"


def build(ctx: AppContext, folder: Path, segments: list[tuple[str, str]],
          generate: Any) -> None:
    """Lay out the audience step (inside the Marketing tab) and wire its events; `generate` is
    the Marketing tab's copy generator (`marketing_view.generate`), `folder` its export
    folder."""
    with ctx.connect() as con:
        sources = data.sources(con)
        first = sources[0] if sources else None
        first_items = target_choices(con, ctx.root, first, "item")
    with gr.Row():
        source = gr.Dropdown(sources, value=first, label="Source", elem_id="aud-source")
        kind = gr.Radio(KINDS, value="item", label="Target", elem_id="aud-kind")
        value = gr.Dropdown(first_items, value=first_items[0][1] if first_items else None,
                            allow_custom_value=True, label="Item", elem_id="aud-value")
        size = gr.Number(100, label="Size (top N)", precision=0, minimum=1, elem_id="aud-size")
    with gr.Row():
        segment = gr.Dropdown(segment_filter_choices(segments, first), value="",
                              label="Segment", elem_id="aud-segment")
        churn = gr.Dropdown(BAND_CHOICES, value="", label="Churn band", elem_id="aud-churn")
        intent = gr.Dropdown(BAND_CHOICES, value="", label="Intent band", elem_id="aud-intent")
        active = gr.Number(None, label="Last active within (days; 0 = any)", minimum=0,
                           elem_id="aud-active")
        exclude = gr.Checkbox(False, label="Exclude recent buyers (30 days)",
                              elem_id="aud-exclude")
    go = gr.Button("Build audience", variant="primary", elem_id="aud-build")
    summary = gr.HTML(elem_id="aud-summary")
    table = gr.Dataframe(interactive=False, wrap=True, elem_id="aud-table")
    download = gr.File(label="Audience (CSV)", interactive=False, visible=False,
                       elem_id="aud-csv")
    built = gr.State(None)  # the Audience, kept server-side for the copy step
    with gr.Row():
        channel = gr.Radio(list(CHANNELS), value="email", label="Channel",
                           elem_id="aud-channel")
        tone = gr.Dropdown(["friendly", "formal", "playful", "enthusiastic", "calm"],
                           value="friendly", allow_custom_value=True, label="Tone")
        count = gr.Slider(1, MAX_VARIANTS, value=2, step=1, label="Variants")
    write = gr.Button("Write copy for that audience", elem_id="aud-copy-go")
    copy_out = gr.HTML(elem_id="aud-copy")
    copy_csv = gr.File(label="Copy (CSV)", interactive=False, visible=False,
                       elem_id="aud-copy-csv")

    def on_target(src: str | None, k: str) -> tuple[Any, Any]:
        with ctx.connect() as con:
            choices = target_choices(con, ctx.root, src, k)
        label = k.capitalize() if choices or k == "item" else f"{k.capitalize()} (none in {src})"
        return (gr.update(choices=choices, value=choices[0][1] if choices else None,
                          label=label),
                gr.update(choices=segment_filter_choices(segments, src), value=""))

    def on_build(src: str | None, k: str, v: str | None, n: Any, seg: str | None,
                 ch: str | None, it: str | None, days: Any, excl: bool,
                 request: gr.Request) -> tuple[Any, ...]:
        return build_step(ctx, folder, ctx.access(request), src, k, v, n, seg, ch, it, days,
                          excl)

    def on_write(audience: Audience | None, chan: str, how: str, n: float,
                 request: gr.Request) -> Iterator[tuple[Any, Any]]:
        yield from copy_step(ctx, folder, ctx.access(request), audience, chan, how, n,
                             generate)

    source.change(on_target, inputs=[source, kind], outputs=[value, segment], api_name=False)
    kind.change(on_target, inputs=[source, kind], outputs=[value, segment], api_name=False)
    go.click(on_build, inputs=[source, kind, value, size, segment, churn, intent, active,
                               exclude],
             outputs=[summary, table, download, built], api_name="audience",
             concurrency_id="audience", concurrency_limit=1)  # a backtest trains a model
    write.click(on_write, inputs=[built, channel, tone, count], outputs=[copy_out, copy_csv],
                concurrency_id="llm", concurrency_limit=ctx.settings.ui.llm_concurrency_limit,
                api_name="audience_copy")


def build_step(ctx: AppContext, folder: Path, access: Access, source: str | None,
               kind: str | None, value: str | None, size: Any, segment: str | None,
               churn_band: str | None, intent_band: str | None, active_within: Any,
               exclude_buyers: bool) -> tuple[Any, ...]:
    """The Build button: (summary HTML, table, CSV download update, audience state); an error
    box and an empty table for bad input."""
    try:
        options = make_options(size, segment, churn_band, intent_band, active_within,
                               exclude_buyers)
        audience = make_audience(ctx, source, kind, value, options)
    except InputError as exc:
        return (error_html(str(exc)), pd.DataFrame(columns=TABLE_COLUMNS),
                gr.update(value=None, visible=False), None)
    html = summary_html(audience)
    if access.export:
        path = export_audience_csv(audience, folder, access)
        file = gr.update(value=str(path), visible=True)
    else:
        html += (f"<p class='bi-note'>CSV export is not available to the role "
                 f"{text_html(access.role)}.</p>")
        file = gr.update(value=None, visible=False)
    return html, user_rows(audience, access), file, audience


def copy_step(ctx: AppContext, folder: Path, access: Access, audience: Audience | None,
              channel: str, tone: str, n: float, generate: Any) -> Iterator[tuple[Any, Any]]:
    """The Write-copy button: copy for the built audience's dominant segment about its item,
    through the Marketing tab's generator (its checks, rendering and CSV rules)."""
    try:
        if audience is None:
            raise InputError("build an audience first")
        seg, members = dominant_segment(audience)
        with ctx.connect() as con:
            item_id, why = copy_item(con, audience)
    except InputError as exc:
        yield error_html(str(exc)), gr.update(value=None, visible=False)
        return
    head = (f"<p class='bi-note'>Copy for the audience of {text_html(audience.target.label)}: "
            f"aimed at segment {seg} ({members} of its {len(audience.users)} users), about "
            f"item {text_html(item_id)} ({text_html(why)}).</p>")
    for html, path in generate(ctx, folder, access, "segment", f"{audience.source}/{seg}",
                               None, item_id, channel, tone, n):
        yield head + html, gr.update(value=path, visible=path is not None)
