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


class Ready(BaseModel):
    ready: bool = Field(description="true: send this instance traffic")
    database: str = Field(description="reachable, or unreachable (no answer within a second)")
    pbx: str = Field(description="online (at least one Asterisk node's AMI link is up),"
                                 " unreachable (every configured link is down) or disabled"
                                 " (no AMI user configured: the PBX doesn't count)")
