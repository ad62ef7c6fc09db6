from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = "healthy"
    timestamp: str
    services: list[str]
    pbx: str = Field(description="the AMI link: online, connecting, offline, login_failed"
                                 " (Asterisk refused callbridge's AMI user or secret) or disabled"
                                 " (no AMI user configured)")
    links: dict[str, str] = Field(default_factory=dict,
                                  description="each Asterisk node's AMI link state, by node name")


class ServiceStatus(BaseModel):
    status: str
    detail: dict[str, Any] = {}


class Status(BaseModel):
    status: str
    timestamp: str
    services: dict[str, ServiceStatus]
