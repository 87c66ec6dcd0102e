"""The Models tab: test metrics of the current checkpoints beside their baselines, reliability
diagrams of the probability models, and how fresh the data and scores are.

The metrics table is filled on every page load from `AppContext.model_cards`, so a newly
published checkpoint shows without a restart; the reliability plots are drawn at start-up."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from store.checkpoints import CHURN, INTENT
from ui import charts, data
from ui.context import AppContext

RELIABILITY_SHOWN = 3


def reliability_figures(cards: list[dict]) -> list[tuple[str, object]]:
    """(label, figure) for every evaluated level of the intent and churn checkpoints."""
    figures = []
    for card in cards:
        if card["kind"] not in (INTENT, CHURN):
            continue
        for level in data.evaluation_levels(card["meta"]):
            curves = {k: v for k, v in (level.get("reliability") or {}).items()
                      if k == "model" or not k.startswith(("model_", "candidate_"))}
            if curves:
                label = f"{card['source']} {card['kind']} ({level.get('level', '?')} level)"
                figures.append((label, charts.reliability(curves, label)))
    return figures


def metrics_frame(ctx: AppContext) -> pd.DataFrame:
    """The metrics table of the checkpoints current now (a note when none is trained)."""
    rows = data.metrics_rows(ctx.model_cards())
    if not rows:
        return pd.DataFrame({"models": ["No trained models yet: run `insight train --source S` "
                                        "and `insight score`."]})
    frame = pd.DataFrame(rows)
    return frame[[c for c in frame.columns if c not in ("version", "trained")]
                 + ["trained", "version"]]


def build(ctx: AppContext) -> None:
    """Lay out the Models tab."""
    gr.Markdown("#### Test metrics of the current models (from their checkpoints, read again "
                "on every page load)")
    gr.Dataframe(value=lambda: metrics_frame(ctx), interactive=False, wrap=True,
                 elem_id="models-metrics")
    figures = reliability_figures(ctx.model_cards())
    if figures:
        gr.Markdown("#### Reliability (calibration on the test cut-off)")
        for start in range(0, len(figures), RELIABILITY_SHOWN):
            with gr.Row():
                for label, figure in figures[start:start + RELIABILITY_SHOWN]:
                    gr.Plot(value=figure, label=label, show_label=False)
    gr.Markdown("#### Data freshness (read again on every page load)")

    def fresh() -> pd.DataFrame:
        with ctx.connect() as con:
            return pd.DataFrame(data.freshness(con, ctx.root))

    gr.Dataframe(value=fresh, interactive=False, elem_id="models-freshness")
