"""Shapes of the Call Log API 3.0 (GET /call_log/records_after_timestamp)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from callbridge.contacts.models import Count, Phone

TIMESTAMP_FORMAT = "YYYY-MM-DD HH:MM:SS"


class RecordsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamp: str = Field(description=f"only calls that started after this UTC time ({TIMESTAMP_FORMAT})",
                           json_schema_extra={"pattern": r"^\s*\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\s*$"})
    limit: Annotated[int, Field(ge=1, le=10_000, description="page size")] = 1000
    after: Annotated[Count, Field(description="cursor: the `next` of the previous page")] = 0
    direction: Annotated[Literal["INCOMING", "OUTGOING", "INTERNAL"] | None,
                         Field(description="only calls in this direction")] = None
    extension: Annotated[str | None, StringConstraints(pattern=r"^[0-9]{2,10}$"),
                         Field(description="only calls of this inside extension")] = None
    number: Annotated[Phone | None, Field(description="only calls with this outside number"
                                                      " (any formatting)")] = None

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, v: str) -> str:
        try:
            return datetime.strptime(v.strip(), "%Y-%m-%d %H:%M:%S").strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"timestamp must be {TIMESTAMP_FORMAT} (UTC)") from None


class CallRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rid: int
    call_timestamp: str = Field(description="call start, UTC, YYYY-MM-DD HH:MM:SS")
    answer_timestamp: str | None
    end_timestamp: str | None
    duration: int
    billsec: int = Field(description="talk time; for a click-to-dial from the far end answering")
    direction: str
    disposition: str
    cidname_outside: str | None
    cidnumber_outside: str | None
    cidext_inside: str
    cidnumber_inside: str | None
    contact_uuid: str | None
    uniqueid: str | None
    linkedid: str
    call_id: str | None
    node: str = Field("default", description="the Asterisk node the call was on (CALLBRIDGE_AMI)")


class RecordsPage(BaseModel):
    success: bool = True
    count: int
    records: list[CallRecord]
    next: int | None = Field(None, description="pass as `after` for the following page; null at the end")
