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


class StoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="the Asterisk node of the call (a row's or event's"
                                         " `node`); default: the first configured")


class Party(BaseModel):
    kind: Literal["extension", "outside", "local", "application", "unknown"] = Field(
        description="extension: an inside phone; outside: the trunk's side; local: a Local"
                    " channel (a queue member, a ring group, a transfer's helper); application:"
                    " no channel, an application (Queue, VoiceMail, Pickup) took the call")
    name: str = Field(description="the extension, the outside number, 'ext@context' of a Local"
                                  " channel, or the application")
    channel: str | None = Field(None, description="Asterisk's channel name")


class CallLeg(BaseModel):
    """One CDR of the call: a channel dialling another, or running an application."""
    sequence: int
    start: str
    answer: str | None
    end: str | None
    billsec: int
    disposition: str = Field(description="Asterisk's: ANSWERED, NO ANSWER, BUSY, FAILED")
    source: Party
    destination: Party
    application: str | None = Field(None, description="what the source ran: Dial, Queue,"
                                                       " AppDial (a dialled channel), Pickup …")
    devices: list[str] = Field(default_factory=list, description="the device contacts a Dial"
                                                                 " rang (from its dial string)")
    reading: Literal["rang", "talked", "answered_by_application", "replaced_by_pickup",
                     "consulted", "failed"] = Field(
        description="how the call log reads the leg (docs/call-log.md): rang (no answer, busy),"
                    " talked, answered_by_application (Queue, VoiceMail: nobody at an extension),"
                    " replaced_by_pickup (marked answered, but a directed pickup took it),"
                    " consulted (an attended transfer's transferer talking to the target"
                    " before handing the caller over), failed")


class CallHold(BaseModel):
    """A party put the call on hold (its phone's hold key), and took it back."""
    party: Party = Field(description="who pressed hold; the others heard music on hold")
    start: str
    end: str | None = Field(description="when the party took the call back, or left it;"
                                        " null: still on hold")


class CallHangup(BaseModel):
    """Who hung up: the first party that talked whose own side hung up (its phone's BYE) while
    another was still on the call."""
    party: Party
    at: str
    cause: str | None = Field(description="Asterisk's hang-up cause ('Normal Clearing' when the"
                                          " party hung up; 'User busy', 'No answer' …)")


class CallStory(BaseModel):
    """Every leg of one call in order, its hold periods, and the call-log rows it made for the
    account."""
    call_id: str = Field(description="Asterisk's linkedid (a click-to-dial's call_id)")
    node: str
    legs: list[CallLeg]
    holds: list[CallHold] = Field(default_factory=list, description="seen live (AMI Hold and"
                                  " Unhold); a hold while no callbridge instance read the node"
                                  " is not known")
    hung_up_first: CallHangup | None = Field(None, description="who hung up, seen live like"
                                             " holds; null when not known")
    rows: list[CallRecord]
