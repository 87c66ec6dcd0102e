"""`GET /v1/audiences`: the audience builder (:func:`predictors.audience.build_audience`).

One target (``item``, ``category``, ``brand`` or ``goal``), optional filters and a size or
threshold; the users come ranked by their calibrated probability. It reads the workspace's
stored tables (live events count once they are folded by `insight api compact`). The temporal
backtest retrains a small next-item model, so it is off unless ``backtest=true``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel

from api.state import ApiError, ApiState
from predictors.audience import AudienceOptions, AudienceTarget, AudienceUser, build_audience
from store.workspace import Workspace


class AudienceOut(BaseModel):
    """The audience: users, expected conversions, calibration and (optionally) the backtest."""

    source: str
    target: dict[str, Any]
    outcome: str
    horizon: str
    model_version: str
    size: int
    eligible_users: int
    expected_conversions: float
    calibration: dict[str, Any]
    backtest: dict[str, Any] | None
    filters: dict[str, Any]
    notes: list[str]
    users: list[AudienceUser]  # the library's dataclass: one definition of a user row


def add_audience_route(app: FastAPI, state: ApiState) -> None:
    """Register `GET /v1/audiences` on `app`."""
    @app.get("/v1/audiences", response_model=AudienceOut, tags=["audiences"])
    def audiences(
        source: str,
        item: str | None = None,
        category: str | None = None,
        brand: str | None = None,
        goal: str | None = None,
        size: Annotated[int | None, Query(ge=1, le=100_000)] = 100,
        threshold: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
        segment: int | None = None,
        churn_band: str | None = None,
        intent_band: str | None = None,
        active_within_days: Annotated[float | None, Query(gt=0)] = None,
        exclude_buyers: bool = False,
        purchase_only: bool = False,
        backtest: bool = False,
    ) -> dict[str, Any]:
        """Users to target for an item, a category, a brand or a goal, ranked by probability."""
        state.require_source(source, 422, "source")
        given = {k: v for k, v in (("item", item), ("category", category), ("brand", brand),
                                   ("goal", goal)) if v is not None}
        if len(given) != 1:
            raise ApiError(422, "item|category|brand|goal: give exactly one target "
                                f"(got {', '.join(given) or 'none'})")
        kind, value = next(iter(given.items()))
        options = AudienceOptions(
            size=size, threshold=threshold, segment=segment, churn_band=churn_band,
            intent_band=intent_band, active_within_days=active_within_days,
            exclude_buyers=exclude_buyers, purchase_only=purchase_only, backtest=backtest)
        result = build_audience(Workspace.open(state.root), source,
                                AudienceTarget(kind, value), options)
        return result.to_dict()
