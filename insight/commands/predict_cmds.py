"""`insight train`, `insight evaluate`, `insight score`: the predictors from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from insight.commands.common import WorkspaceOpt, run_guarded, workspace_path

console = Console()

def _kinds(only: list[str] | None) -> tuple[str, ...]:
    from core.errors import InputError
    from store.checkpoints import MODEL_KINDS

    chosen = tuple(only or MODEL_KINDS)
    unknown = [k for k in chosen if k not in MODEL_KINDS]
    if unknown:
        raise InputError(f"unknown model kind(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(MODEL_KINDS)}")
    return chosen


def train(
    workspace: WorkspaceOpt = None,
    source: Annotated[str | None, typer.Option(help="Source to train on.")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Model kinds (repeatable).")] = None,
    quick: Annotated[bool, typer.Option(help="Small, fast settings (demo, CI).")] = False,
    epochs: Annotated[int | None, typer.Option(help="Max epochs (next_item).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    horizon: Annotated[str | None, typer.Option(help="Intent/churn horizon, e.g. 1D, 180D.")]
    = None,
    resume: Annotated[bool, typer.Option(
        help="Fine-tune the current next_item checkpoint on the events since (short schedule; "
             "new items get new embeddings); --epochs caps its epochs.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Train the predictors of a source and save versioned checkpoints in the workspace."""
    from predictors.pipeline import TrainRequest, train_source

    def action() -> dict[str, Any]:
        request = TrainRequest(kinds=_kinds(only), quick=quick, epochs=epochs, seed=seed,
                               horizon=horizon, resume=resume)
        return train_source(workspace_path(workspace), source, request)

    results = run_guarded(action)
    _print(results, as_json, "trained")


def evaluate(
    workspace: WorkspaceOpt = None,
    source: Annotated[str | None, typer.Option(help="Source to evaluate.")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="A next_item checkpoint directory.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate saved models on the current data (next-item: leave-one-out, full ranking)."""
    from predictors.pipeline import evaluate_source

    results = run_guarded(lambda: evaluate_source(workspace_path(workspace), source, checkpoint))
    _print(results, as_json, "evaluation")


def score(
    workspace: WorkspaceOpt = None,
    source: Annotated[list[str] | None, typer.Option(help="Sources (default: all trained).")]
    = None,
    k: Annotated[int, typer.Option(help="Top-k next items per user.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Users per scoring batch.")] = 1024,
    checkpoint: Annotated[Path | None, typer.Option(help="A next_item checkpoint directory.")]
    = None,
    engine: Annotated[str, typer.Option(
        help="local: score in this process; ray: Ray Data actors (docs/scale-out.md).")]
    = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray address for --engine ray: auto, HOST:PORT or ray://…; default: a local Ray.")]
    = None,
    workers: Annotated[int | None, typer.Option(
        help="Model actors for --engine ray (default: the cluster's GPUs, else CPUs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fill the `user_scores` table for every user of the source(s)."""
    from predictors.pipeline import score_sources

    results = run_guarded(lambda: score_sources(workspace_path(workspace), source, k=k,
                                                batch_size=batch_size, checkpoint=checkpoint,
                                                engine=engine, address=address,
                                                workers=workers))
    _print(results, as_json, "scored")


def user(
    user_id: Annotated[str, typer.Argument(help="User id.")],
    workspace: WorkspaceOpt = None,
    source: Annotated[str | None, typer.Option(help="Source (when the id is in several).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one user's scores: top next items, intent, churn risk, segment."""
    from predictors.pipeline import user_scores_of

    results = run_guarded(lambda: user_scores_of(workspace_path(workspace), user_id, source))
    _print(results, as_json, f"user {user_id}")


def _print(results: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(results, indent=2, default=str))
        return
    table = Table(title=title)
    table.add_column("what")
    table.add_column("result")
    for key, value in results.items():
        table.add_row(str(key), json.dumps(value, default=str)[:400])
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the predictor commands to the `insight` app."""
    app.command()(train)
    app.command()(evaluate)
    app.command()(score)
    app.command(name="user")(user)
