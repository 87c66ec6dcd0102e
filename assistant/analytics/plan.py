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
MAX_USER_CONDITIONS = 3


class UserCondition(BaseModel):
    """Keep only the users who did something (at least `min_count` times) or never did it.

    Counted over each user's whole history in their source, whatever the plan's other filters:
    "users who carted but never bought" means never bought anything, at any time.
    """

    model_config = ConfigDict(extra="forbid")

    event_type: EventTypeName | None = Field(None, description="None: any event")
    min_count: int = Field(1, ge=1, le=100_000)
    max_count: int | None = Field(None, ge=1, le=100_000,
                                  description="at most this many (= min_count: exactly)")
    sessions: bool = Field(False, description="count distinct sessions, not events")
    never: bool = Field(False, description="users with no such event at all")
    date_from: dt.date | None = Field(None, description="count only events from this day on "
                                      "('in 2013 but none in 2014'); default: whole history")
    date_to: dt.date | None = Field(None, description="inclusive")

    @model_validator(mode="after")
    def _meaningful(self) -> UserCondition:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError("max_count is below min_count")
        if self.never and (self.min_count != 1 or self.sessions or self.max_count):
            raise ValueError("a 'never' condition takes no count")
        if self.never and self.event_type is None and self.date_from is None:
            raise ValueError("a 'never' condition needs an event type or a period")
        if (self.date_from is None) != (self.date_to is None):
            raise ValueError("a condition's date_from and date_to go together")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("a condition's date_from is after its date_to")
        return self


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
    users: list[UserCondition] = Field(default_factory=list, max_length=MAX_USER_CONDITIONS)

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
    min_rows: int | None = Field(
        None, ge=1, le=1_000_000, description="Grouped plans: keep only the groups with at "
        "least this many rows ('items with at least 10 reviews').")
    compare_from: dt.date | None = Field(
        None, description="With compare_previous_period: the other period's first day, when a "
        "question names it ('dec 2 vs dec 5'); default: the period just before.")
    compare_to: dt.date | None = Field(None, description="the other period's last day")
    share_condition: Filters | None = Field(
        None, description="Answer with the share of the metric that meets these extra filters "
        "(added to `filters`): e.g. buyers with users=[cart] → the share of buyers who carted.")

    @model_validator(mode="after")
    def _consistent(self) -> QueryPlan:
        relations = {METRICS[m].relation for m in self.metrics}
        if len(relations) > 1 and ("scores" in relations or self.group_by or self.order_by
                                   or self.compare_previous_period or self.share_condition
                                   or self.filters.event_type or self.filters.users
                                   or self.filters.min_rating is not None
                                   or self.filters.max_rating is not None):
            raise ValueError(f"metrics {self.metrics} read different tables: only plain "
                             "totals of events and reviews go together; ask separately")
        relation = METRICS[self.metrics[0]].relation
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
        if self.min_rows is not None and not self.group_by:
            raise ValueError("min_rows applies to grouped plans")
        if (self.compare_from is None) != (self.compare_to is None):
            raise ValueError("compare_from and compare_to go together")
        if self.compare_from is not None:
            if not self.compare_previous_period:
                raise ValueError("compare_from needs compare_previous_period")
            if self.compare_to is not None and self.compare_from > self.compare_to:
                raise ValueError("compare_from is after compare_to")
        if self.order_by == "change" and not self.compare_previous_period:
            raise ValueError("order_by 'change' needs compare_previous_period")
        if self.share_condition is not None:
            if len(self.metrics) != 1 or self.group_by or self.compare_previous_period:
                raise ValueError("a share is of one metric, ungrouped, without a comparison")
            if METRICS[self.metrics[0]].unit not in ("count", "money"):
                raise ValueError("a share needs a count or an amount, not a rate or an average")
            if self.share_condition.source:
                raise ValueError("a share condition cannot change the sources")
        if relation == "scores" and self.filters.users:
            raise ValueError("score metrics cannot be filtered by what users did")
        return self

    def with_condition(self) -> QueryPlan:
        """The plan restricted to its share condition (the numerator of the share)."""
        if self.share_condition is None:
            return self
        base = self.filters.model_dump()
        for key, value in self.share_condition.model_dump().items():
            if value in (None, []):
                continue
            base[key] = base[key] + value if key == "users" else value
        return self.model_copy(update={"filters": Filters.model_validate(base),
                                       "share_condition": None})

    @property
    def relation(self) -> str:
        """The fact relation the plan's (first) metric reads; plain totals of events and
        reviews asked together are run one relation at a time (see `by_relation`)."""
        return METRICS[self.metrics[0]].relation

    def by_relation(self) -> list[list[str]]:
        """The plan's metrics grouped by the relation they read, in the order asked."""
        groups: dict[str, list[str]] = {}
        for metric in self.metrics:
            groups.setdefault(METRICS[metric].relation, []).append(metric)
        return list(groups.values())
