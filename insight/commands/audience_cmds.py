"""`insight audience`: the users to target for an item, category, brand or goal.

The CSV export goes through `ui.safe.csv_cell` (formula characters neutralised, control
characters dropped). It holds user ids and scores only: no reviewer names, no review text, so
the masking rules have nothing else to hide; the CLI runs with the workspace owner's rights,
the same as `insight user`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from insight.commands.common import WorkspaceOpt, run_guarded, workspace_path

console = Console()

CSV_COLUMNS = ("user_id", "probability", "score", "last_active", "segment", "intent", "churn")


def _target(item: str | None, category: str | None, brand: str | None,
            goal: str | None) -> Any:
    from core.errors import InputError
    from predictors.audience import AudienceTarget

    given = [(k, v) for k, v in (("item", item), ("category", category), ("brand", brand),
                                 ("goal", goal)) if v is not None]
    if len(given) != 1:
        raise InputError("name exactly one target: --item, --category, --brand or --goal")
    return AudienceTarget(*given[0])


def write_audience_csv(path: Path, users: list[dict[str, Any]]) -> Path:
    """Write the audience's users to `path`, every cell through `ui.safe.csv_cell`."""
    from ui.safe import csv_cell

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for user in users:
            writer.writerow([csv_cell("" if user.get(c) is None else user[c])
                             for c in CSV_COLUMNS])
    return path


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def audience(
    source: Annotated[str, typer.Option(help="Source whose users to rank.")],
    item: Annotated[str | None, typer.Option(help="Target item id.")] = None,
    category: Annotated[str | None, typer.Option(help="Target category (and sub-categories).")]
    = None,
    brand: Annotated[str | None, typer.Option(help="Target brand.")] = None,
    goal: Annotated[str | None, typer.Option(help="winback | convert-carts.")] = None,
    size: Annotated[int | None, typer.Option(help="Audience size (top N).")] = 100,
    threshold: Annotated[float | None, typer.Option(help="Minimum probability.")] = None,
    segment: Annotated[int | None, typer.Option(help="Only this segment.")] = None,
    churn_band: Annotated[str | None, typer.Option(help="low|medium|high or a range 0.5-1.")]
    = None,
    intent_band: Annotated[str | None, typer.Option(help="low|medium|high or a range.")] = None,
    active_within: Annotated[float | None, typer.Option(help="Last active within N days.")]
    = None,
    inactive_for: Annotated[float | None, typer.Option(help="Inactive for at least N days.")]
    = None,
    exclude_buyers: Annotated[bool, typer.Option(help="Drop recent buyers of the target.")]
    = False,
    buyer_days: Annotated[float, typer.Option(help="'Recent' for --exclude-buyers, days.")]
    = 30.0,
    horizon: Annotated[str | None, typer.Option(help="Horizon, e.g. 1D, 30min.")] = None,
    purchase: Annotated[bool, typer.Option(help="Count purchases only as conversions.")]
    = False,
    backtest: Annotated[bool, typer.Option(help="Run the temporal backtest.")] = True,
    backtest_epochs: Annotated[int, typer.Option(help="Epochs of the backtest's next-item "
                                                      "model (trained before the cut).")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write the users to a CSV.")]
    = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Rank the users to target for an item, category, brand or goal, with a backtest."""
    from predictors.audience import AudienceOptions, build_audience
    from store.workspace import Workspace

    def action() -> dict[str, Any]:
        options = AudienceOptions(
            size=size, threshold=threshold, segment=segment, churn_band=churn_band,
            intent_band=intent_band, active_within_days=active_within,
            inactive_days=inactive_for, exclude_buyers=exclude_buyers, buyer_days=buyer_days,
            horizon=horizon, purchase_only=purchase, backtest=backtest,
            backtest_epochs=backtest_epochs)
        target = _target(item, category, brand, goal)
        ws = Workspace.open(workspace_path(workspace))
        return build_audience(ws, source, target, options).to_dict()

    result = run_guarded(action)
    if csv_path is not None:
        run_guarded(lambda: write_audience_csv(csv_path, result["users"]))
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    _print(result, csv_path)


def _print(result: dict[str, Any], csv_path: Path | None) -> None:
    target = result["target"]
    table = Table(title=f"audience for {target['kind']} {target['value']} · {result['source']} "
                        f"· {len(result['users'])} of {result['eligible_users']} users")
    for column in ("#", "user", "probability", "score", "last active", "segment", "intent",
                   "churn"):
        table.add_column(column)
    for rank, user in enumerate(result["users"][:50], start=1):
        table.add_row(str(rank), user["user_id"], _fmt(user["probability"]),
                      f"{user['score']:.3g}", (user["last_active"] or "-")[:16],
                      "-" if user["segment"] is None else str(user["segment"]),
                      _fmt(user["intent"]), _fmt(user["churn"]))
    console.print(table)
    console.print(f"expected conversions: {result['expected_conversions']:.2f} within "
                  f"{result['horizon']} ({result['calibration']['method']} calibration)")
    console.print(backtest_line(result.get("backtest")))
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    if csv_path is not None:
        console.print(f"wrote {csv_path}")


def backtest_line(bt: dict[str, Any] | None) -> str:
    """One line on the backtest: precision@K and the lifts."""
    if not bt:
        return "backtest: not run"

    def lift(value: Any) -> str:
        return "n/a" if value is None else f"{value:.2f}x"

    return (f"backtest at {bt['cutoff'][:16]}: precision@{bt['k']} {bt['precision_at_k']:.3f} "
            f"(base rate {bt['base_rate']:.3f}); lift {lift(bt['lift'])} over random, "
            f"{lift(bt.get('lift_vs_recent_viewers'))} over recent viewers, "
            f"{lift(bt.get('lift_vs_popularity'))} over popularity")


def register(app: typer.Typer) -> None:
    """Add `insight audience` to the app."""
    app.command()(audience)
