"""Shapes of the webhook API (POST/GET /webhooks, deliveries)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callbridge.events.models import check_type_patterns


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=8, max_length=2000,
                              description="http(s) URL receiving POSTed events")]
    types: Annotated[list[Annotated[str, Field(pattern=r"^[a-z.*]{1,40}$")]],
                     Field(min_length=1, max_length=20,
                           description="event types or patterns, e.g. [\"call.*\"]")]

    @field_validator("types")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return check_type_patterns(v)


class Webhook(BaseModel):
    id: str
    url: str
    types: list[str]
    created_at: str
    enabled: bool
    disabled_at: str | None = None
    disabled_reason: str | None = None


class WebhookCreated(Webhook):
    secret: str = Field(description="the signing secret (whsec_…): shown this once only")


class Delivery(BaseModel):
    id: int
    msg_id: str = Field(description="the webhook-id header, the same on every attempt")
    event_type: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: str | None = Field(None, description="when the next try is due (pending)")
    created_at: str
    last_attempt_at: str | None = None
    last_status: int | None = Field(None, description="the endpoint's HTTP status")
    last_error: str | None = None
    last_response: str | None = Field(None, description="the start of its body (1 KiB at most)")
    last_ms: float | None = None


class DeliveriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(50, ge=1, le=500)
    before: int | None = Field(None, ge=1, le=2**62, description="older than this delivery id")


class Deleted(BaseModel):
    id: str
    deleted: bool = True


class TestQueued(BaseModel):
    msg_id: str
    delivery_id: int
