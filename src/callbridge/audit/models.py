"""Shapes of GET /admin/audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from callbridge.timeutil import iso


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str | None = Field(None, max_length=64,
                                description="only this account's entries (its id or its name)")
    action: str | None = Field(None, max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)?$",
                               description="an action (key.created) or a kind of them (key)")
    since: datetime | None = Field(None, description="entries at or after this time (ISO 8601)")
    until: datetime | None = Field(None, description="entries before this time (ISO 8601)")
    before: int | None = Field(None, ge=1, le=2**62,
                               description="entries older than this id (the next page's cursor)")
    limit: int = Field(100, ge=1, le=1000)

    def bounds(self) -> tuple[str | None, str | None]:
        """since and until as stored times are written (UTC, milliseconds, Z)."""
        return (iso(self.since) if self.since else None, iso(self.until) if self.until else None)


class AuditEntryView(BaseModel):
    id: int
    at: str
    account: str | None = Field(description="the account's public id (kept once it is deleted)")
    account_name: str | None
    actor: str = Field(description="key:<id>, admin-key:<id>, cli:<user> or system")
    action: str
    target: str | None
    detail: Annotated[dict[str, Any] | None, Field(description="what changed, by action")]


class AuditPage(BaseModel):
    entries: list[AuditEntryView]
    next: str | None = Field(description="the next (older) page's path; null on the last page")
