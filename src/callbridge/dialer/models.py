"""Shapes of the Dialer API 3.0 (and of call progress, which the seed leaves to us)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class DialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extension: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    phonenumber: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class DialAccepted(BaseModel):
    status: str = "200"
    message: str = "Success"
    call_id: str


class CallProgress(BaseModel):
    call_id: str
    extension: str
    phonenumber: str
    state: str = Field(description="queued, ringing, answered, connected or ended")
    device: str | None = Field(None, description="the device that answered (channel), or 'mobile'")
    failure_reason: str | None = None
    hangup_cause: str | None = None
    timestamps: dict[str, str] = Field(description="when each state was reached (UTC, ISO 8601)")
