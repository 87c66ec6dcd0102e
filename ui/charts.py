"""Matplotlib figures for the views (object API only: handlers draw from several threads)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

COLORS = {"view": "#8ecae6", "cart": "#ffb703", "fav": "#e76f51", "purchase": "#2a9d8f",
          "review": "#6d597a", "remove_from_cart": "#adb5bd"}


def _figure(width: float = 7.0, height: float = 3.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def empty(message: str) -> Figure:
    """A small figure that only says why there is nothing to draw."""
    fig, ax = _figure(6, 1.2)
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555")
    return fig


def timeline(frame: pd.DataFrame, title: str) -> Figure:
    """Stacked bars of events per day and type."""
    if frame.empty:
        return empty("no timed events (this source records no timestamps)")
    pivot = frame.pivot_table(index="day", columns="event_type", values="events",
                              aggfunc="sum", fill_value=0).sort_index()
    fig, ax = _figure()
    bottom = None
    labels = [str(d)[:10] for d in pivot.index]
    for column in pivot.columns:
        values = pivot[column].to_numpy()
        ax.bar(labels, values, bottom=bottom, label=str(column),
               color=COLORS.get(str(column)))
        bottom = values if bottom is None else bottom + values
    ax.set_title(title, fontsize=11)
    ax.set_ylabel("events")
    ax.legend(fontsize=8, ncols=min(4, len(pivot.columns)))
    step = max(1, len(labels) // 10)
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right",
                  fontsize=8)
    return fig


def distribution(values: pd.Series, marker: float | None, title: str, xlabel: str) -> Figure:
    """A histogram of a score over a segment, with this user's value marked."""
    values = values.dropna()
    if values.empty:
        return empty(f"no {xlabel} scores for this segment")
    fig, ax = _figure(4.2, 2.6)
    ax.hist(values, bins=20, range=(0.0, 1.0), color="#8ecae6", edgecolor="white")
    if marker is not None:
        ax.axvline(marker, color="#d62828", linewidth=2, label=f"this user {marker:.3f}")
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("users")
    return fig


def bars(labels: list[str], series: dict[str, list[float]], title: str, ylabel: str,
         percent: bool = False) -> Figure:
    """Bars per label, one colour per series (segment sizes, scores per segment)."""
    if not labels or not series:
        return empty("nothing to draw")
    fig, ax = _figure(max(4.0, min(9.0, 0.8 * len(labels) + 2)), 3.0)
    width = 0.8 / len(series)
    palette = ["#219ebc", "#fb8500", "#8338ec", "#2a9d8f"]
    for k, (name, values) in enumerate(series.items()):
        offsets = [i - 0.4 + width * (k + 0.5) for i in range(len(labels))]
        ax.bar(offsets, values, width=width, label=name, color=palette[k % len(palette)])
    ax.set_xticks(range(len(labels)), labels)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    if percent:
        ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return fig


def answer_chart(spec: dict[str, Any], rows: list[dict[str, Any]]) -> Figure | None:
    """The ask tool's chart spec (bar or line of one metric by one dimension) drawn."""
    x, y = spec.get("x"), spec.get("y")
    points = [(str(r.get(x))[:30], r.get(y)) for r in rows if r.get(y) is not None]
    if not points or not x or not y:
        return None
    labels = [p[0][:10] if spec.get("x_type") == "temporal" else p[0] for p in points]
    values = [float(p[1]) for p in points]
    fig, ax = _figure(6.5, 2.8)
    if spec.get("mark") == "line":
        ax.plot(labels, values, marker="o", color="#219ebc")
        step = max(1, len(labels) // 10)
        ax.set_xticks(range(0, len(labels), step), labels[::step])
    else:
        ax.bar(labels, values, color="#219ebc")
    if spec.get("y_format") == "percent":
        ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
    ax.set_title(str(spec.get("title", "")), fontsize=10)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return fig


def reliability(curves: dict[str, dict[str, Any]], title: str) -> Figure:
    """Reliability diagram: mean predicted vs observed frequency per bin, one line per method."""
    fig, ax = _figure(4.5, 3.6)
    ax.plot([0, 1], [0, 1], linestyle="--", color="#999", linewidth=1, label="perfect")
    top = 0.0
    for name, curve in curves.items():
        xs, ys = curve.get("mean_predicted") or [], curve.get("fraction_positive") or []
        if len(xs) < 2:
            continue
        ax.plot(xs, ys, marker="o", markersize=3, label=name)
        top = max(top, *xs, *ys)
    limit = min(1.0, max(0.05, top * 1.1))
    ax.set_xlim(0, limit)
    ax.set_ylim(0, limit)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig
