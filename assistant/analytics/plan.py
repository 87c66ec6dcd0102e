"""The query plan the LLM fills in: a closed vocabulary, validated before anything runs."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assistant.analytics.catalog import DIMENSIONS, DIMENSIONS_BY_RELATION, METRICS

MetricName = Literal[tuple(METRICS)]  # type: ignore[valid-type]
DimensionName = Literal[tuple(DIMENSIONS)]  # type: ignore[valid-type]
EventTypeName = Literal["view", "cart", "remove_from_cart", "fav", "purchase", "review"]

MAX_LIMIT = 100
MAX_FILTER_VALUES = 50


class Filters(BaseModel):
    """Row filters; every value is bound as a SQL parameter, never spliced into SQL."""

    model_config = ConfigDict(extra="forbid")

    source: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    segment: list[int] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    category: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    brand: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    item_id: list[str] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    event_type: list[EventTypeName] = Field(default_factory=list)
    date_from: dt.date | None = None
    date_to: dt.date | None = Field(None, description="inclusive")
    min_rating: float | None = Field(None, ge=0, le=5, description="inclusive")
    max_rating: float | None = Field(None, ge=0, le=5, description="inclusive")
    min_intent: float | None = Field(None, ge=0, le=1)
    min_churn: float | None = Field(None, ge=0, le=1)

    @field_validator("source", "category", "brand", "item_id")
    @classmethod
    def _short_strings(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value) > 200 or "\x00" in value:
                raise ValueError("filter values must be short strings without NUL bytes")
        return values

    @model_validator(mode="after")
    def _dates_in_order(self) -> Filters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        if (self.min_rating is not None and self.max_rating is not None
                and self.min_rating > self.max_rating):
            raise ValueError("min_rating is above max_rating")
        return self


class QueryPlan(BaseModel):
    """What to compute: metrics, filters, grouping, ordering, limit, optional comparison."""

    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricName] = Field(min_length=1, max_length=4)
    filters: Filters = Field(default_factory=Filters)
    group_by: list[DimensionName] = Field(default_factory=list, max_length=2)
    order_by: MetricName | Literal["change"] | None = None
    descending: bool = True
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    compare_previous_period: bool = Field(
        False, description="Also compute the metrics for the equally long period just before "
        "date_from..date_to, and the change.")

    @model_validator(mode="after")
    def _consistent(self) -> QueryPlan:
        relations = {METRICS[m].relation for m in self.metrics}
        if len(relations) > 1:
            raise ValueError(f"metrics {self.metrics} read different tables; ask separately")
        relation = relations.pop()
        bad = [d for d in self.group_by if d not in DIMENSIONS_BY_RELATION[relation]]
        if bad:
            raise ValueError(f"cannot group {relation} metrics by {', '.join(bad)}")
        if self.order_by not in (None, "change") and self.order_by not in self.metrics:
            raise ValueError("order_by must be one of the plan's metrics or 'change'")
        if self.compare_previous_period:
            if not (self.filters.date_from and self.filters.date_to):
                raise ValueError("a comparison needs date_from and date_to")
            if relation == "scores":
                raise ValueError("scores have no history to compare")
        if self.order_by == "change" and not self.compare_previous_period:
            raise ValueError("order_by 'change' needs compare_previous_period")
        return self

    @property
    def relation(self) -> str:
        """The fact relation all of the plan's metrics read."""
        return METRICS[self.metrics[0]].relation
