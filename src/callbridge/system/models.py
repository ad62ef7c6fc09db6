from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Health(BaseModel):
    status: str = "healthy"
    timestamp: str
    services: list[str]


class ServiceStatus(BaseModel):
    status: str
    detail: dict[str, Any] = {}


class Status(BaseModel):
    status: str
    timestamp: str
    services: dict[str, ServiceStatus]
