"""Request and response models of the scoring API (they are also its OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from store.schema import EVENT_TYPES

EventType = Literal["view", "cart", "remove_from_cart", "fav", "purchase", "review"]
assert get_args(EventType) == EVENT_TYPES, "EventType must list store.schema.EVENT_TYPES"

Id = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_Strict):
    """One behavior event to append; `event_id` makes re-posting it harmless."""

    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$",
                          description="Unique id of the event within its source (idempotency).")
    user_id: str = Id
    item_id: str = Id
    event_type: EventType
    ts: dt.datetime | None = Field(
        None, description="When it happened (ISO 8601; no offset means UTC; default: now). "
                          "Timestamps in the future are refused.")
    session_id: str | None = Field(None, max_length=256)
    price: float | None = Field(None, ge=0, allow_inf_nan=False)
    category: str | None = Field(None, max_length=256)
    brand: str | None = Field(None, max_length=256)


class EventsIn(_Strict):
    """A batch of events of one source."""

    source: str = Field(min_length=1, max_length=64, description="A source of the workspace.")
    events: list[EventIn] = Field(min_length=1, description="At most `api.max_batch_events`.")


class EventsOut(BaseModel):
    """What an append did: events written, and those left out as already known."""

    source: str
    accepted: int
    duplicates: int


class SessionEventIn(_Strict):
    """One event of an anonymous session."""

    item_id: str = Id
    event_type: EventType = "view"
    ts: dt.datetime | None = Field(None, description="ISO 8601; orders the session when given.")


class ScoreIn(_Strict):
    """A session to score without storing it."""

    source: str = Field(min_length=1, max_length=64)
    events: list[SessionEventIn] = Field(min_length=1)
    k: int | None = Field(None, ge=1, le=100, description="Next items wanted (default api.top_k).")


class NextItem(BaseModel):
    """A recommended item with its probability under the next-item model."""

    item_id: str
    title: str | None
    score: float


class IntentItem(BaseModel):
    """A candidate item with its calibrated purchase probability."""

    item_id: str
    p: float


class Intent(BaseModel):
    """Purchase intent: P(any purchase within the horizon) and the likeliest items."""

    p_any_purchase: float
    horizon: str
    items: list[IntentItem]
    as_of: str


class Churn(BaseModel):
    """Churn risk: P(no activity within the horizon)."""

    risk: float
    horizon: str
    as_of: str


class Scores(BaseModel):
    """Scores shared by users and sessions; a null field's reason is in `unavailable`."""

    source: str
    model_version: str = Field(description="The checkpoint versions used, joined by '+'.")
    model_versions: dict[str, str]
    next_items: list[NextItem]
    intent: Intent | None
    churn: Churn | None
    segment: int | None
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Why a score is null, by field name.")


class UserScores(Scores):
    """One user's scores from the stored history plus live events."""

    user_id: str
    n_events: int
    n_live_events: int = Field(description="Events received by the API and not yet folded.")
    last_ts: dt.datetime | None


class SessionScores(Scores):
    """A session's scores (nothing is stored)."""

    n_events: int
    n_known_items: int = Field(description="Session events whose item the model knows.")


class Health(BaseModel):
    """Liveness and what is loaded."""

    status: Literal["ok"]
    workspace: str
    sources: list[str]
    loaded: dict[str, dict[str, object]]
    auth: Literal["keys", "loopback-only"]


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: one message naming the field, plus details for validation errors."""

    error: str
    detail: list[dict[str, object]] | None = None
