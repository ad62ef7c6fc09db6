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
    failure_reason: str | None = Field(None, description=(
        "why the call ended without connecting (e.g. 'no device answered', 'far end busy'),"
        " or 'PBX connection lost' / 'ended while the PBX link was down' when Asterisk went"
        " away while the call was followed (connected calls included)"))
    hangup_cause: str | None = Field(None, description="Asterisk's hang-up cause of the call")
    timestamps: dict[str, str] = Field(description="when each state was reached (UTC, ISO 8601)")
