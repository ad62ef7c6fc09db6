"""Shapes of the live call events (the stream, the journal and webhook payloads share them).

Every event is {"id", "type", "time", "data"}: id increases per account (the stream's resume
point), time is when it happened (UTC; Asterisk's own event time when AMI gave one), data is
one of the models below by type. docs/screen-pop.md lists them with examples.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import models_json_schema

from callbridge.dialer.models import CallProgress

# the node a call's event comes from: several models carry it
CallNode = Annotated[str, Field(description="the Asterisk node of the call (CALLBRIDGE_AMI):"
                                            " call_id is unique per node")]

Direction = Literal["inbound", "outbound", "internal"]


class ContactCard(BaseModel):
    """The contact holding the outside number (the one number matcher; several: the oldest)."""
    uuid: str
    name: str
    organization: str | None = None
    note: str | None = None
    profile_url: str | None = None
    external_id: str | None = None
    email: str | None = None


class CallRinging(BaseModel):
    call_id: str = Field(description="Asterisk's linkedid (for a click-to-dial: its call_id)")
    direction: Direction
    extension: str
    devices: list[str] = Field(description="the device contacts ringing (SIP URIs), or 'mobile'")
    caller: str = Field(description="the calling number")
    caller_name: str | None = None
    called: str = Field(description="the number or extension called")
    number: str | None = Field(None, description="the outside party's number, when there is one")
    contact: ContactCard | None = None
    node: CallNode = "default"


class CallAnswered(BaseModel):
    call_id: str
    direction: Direction
    extension: str
    device: str = Field(description="the device that answered (SIP URI), or 'mobile'")
    node: CallNode = "default"


class CallTaken(BaseModel):
    """The call an extension's devices rang for was answered at another extension (a queue's or
    ring group's other member), or picked up there: the extension's card closes, saying who took
    it."""
    call_id: str
    direction: Direction
    extension: str = Field(description="the extension whose devices rang")
    taken_by: str = Field(description="the extension that answered")
    reason: Literal["answered_elsewhere", "picked_up"] = Field(
        "answered_elsewhere", description="answered_elsewhere: it rang there too; picked_up: a"
        " phone that never rang took it (directed pickup)")
    node: CallNode = "default"


class CallTransferred(BaseModel):
    """Asterisk transferred the call (an attended or a blind transfer), told to both ends: the
    transferer's card closes (the call went to `to`), the target's shows the call's outside
    party, its number and contact (during an attended transfer's consultation it rang with
    them already)."""
    call_id: str
    direction: Direction
    extension: str = Field(description="the extension this event is for: the transferer or"
                                       " the target")
    transferred_by: str | None = Field(description="the extension that transferred the call")
    to: str | None = Field(description="the extension the call was transferred to")
    kind: Literal["attended", "blind"]
    number: str | None = Field(None, description="the outside party (for an inbound call: the"
                                                 " caller)")
    contact: ContactCard | None = None
    node: CallNode = "default"


class CallEnded(BaseModel):
    """From the call's call-log row, once the call log has built it (same rules, same row)."""
    call_id: str
    extension: str
    direction: str = Field(description="INCOMING, OUTGOING or INTERNAL (the call log's)")
    disposition: str
    duration: int
    billsec: int
    number: str | None = None
    name: str | None = None
    contact_uuid: str | None = None
    rid: int = Field(description="the call-log row's id")
    call_timestamp: str
    node: CallNode = "default"


class DeviceState(BaseModel):
    extension: str
    device: str = Field(description="the device's contact URI")
    state: Literal["registered", "unreachable"]
    reason: str = Field(description="Asterisk's ContactStatus: Created, Reachable, Removed …")
    node: str = Field("default", description="the Asterisk node the device registers with")


@dataclass(frozen=True)
class EventKind:
    model: type[BaseModel]
    summary: str


# The catalogue: every event type, the model of its data, and when it is sent. draft() refuses
# a type not in it; /asyncapi.json, the stream's filters and webhook subscriptions are read from
# it.
CATALOGUE: dict[str, EventKind] = {
    "call.ringing": EventKind(CallRinging, "an extension's devices ring (once per extension and"
                                           " call, naming every device and the caller's contact)"),
    "call.answered": EventKind(CallAnswered, "a device of the extension answered"),
    "call.taken": EventKind(CallTaken, "an extension that got call.ringing stops ringing because"
                                       " another extension answered: its card closes (no"
                                       " call.missed follows)"),
    "call.transferred": EventKind(CallTransferred, "the call was transferred (attended or"
                                                   " blind), sent to the transferer and to the"
                                                   " target, with the outside party's contact"),
    "call.ended": EventKind(CallEnded, "the call is over for the extension: its call-log row"),
    "call.missed": EventKind(CallEnded, "an inbound call nobody at the extension answered: its"
                                        " call-log row (sent after call.ended)"),
    "dial.progress": EventKind(CallProgress, "a click-to-dial reached a new state (queued,"
                                             " ringing, answered, connected, ended)"),
    "device.state": EventKind(DeviceState, "a device of an extension registered or became"
                                           " unreachable"),
}
EVENT_TYPES = tuple(CATALOGUE)


class Event(BaseModel):
    id: int
    type: str
    time: str
    data: dict


class Ticket(BaseModel):
    ticket: str = Field(description="pass as ?ticket= to GET /events once, within expires_in s")
    expires_in: int


TypePattern = Annotated[str, StringConstraints(pattern=r"^[a-z.*]{1,40}$")]


def check_type_patterns(patterns: list[str]) -> list[str]:
    """'call.*' and exact names; a pattern that matches no event type is a typo: refused."""
    for p in patterns:
        if not any(fnmatch.fnmatchcase(t, p) for t in EVENT_TYPES):
            raise ValueError(f"{p!r} matches no event type ({', '.join(EVENT_TYPES)})")
    return patterns


def matches(type_: str, patterns: list[str] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(type_, p) for p in patterns)


class StreamQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")  # ticket is read by the auth middleware

    after: int | None = Field(None, ge=0, le=2**62, description="resume after this event id"
                                                               " (as Last-Event-ID)")
    extension: str | None = Field(None, pattern=r"^[0-9]{2,10}(,[0-9]{2,10})*$",
                                  description="only these extensions' events (comma-separated)")
    types: str | None = Field(None, pattern=r"^[a-z.*]{1,40}(,[a-z.*]{1,40})*$",
                              description="only these types, e.g. call.* or"
                                          " call.ringing,call.ended")

    @field_validator("types")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None:
            check_type_patterns(v.split(","))
        return v

    def type_list(self) -> list[str] | None:
        return self.types.split(",") if self.types else None

    def extension_set(self) -> frozenset[str] | None:
        return frozenset(self.extension.split(",")) if self.extension else None


def asyncapi_document(title: str, version: str) -> dict:
    """The events as an AsyncAPI 3.0 document, from the catalogue: one message per type, whose
    payload is the whole event ({"id", "type", "time", "data"}) as the stream, the journal and
    webhooks carry it."""
    kinds = sorted({k.model for k in CATALOGUE.values()}, key=lambda m: m.__name__)
    refs, defs = models_json_schema([(m, "serialization") for m in kinds],
                                    ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {}))
    ref_of = {m: refs[(m, "serialization")]["$ref"] for m in kinds}
    messages = {}
    for type_, kind in CATALOGUE.items():
        messages[type_] = {
            "name": type_, "summary": kind.summary, "contentType": "application/json",
            "payload": {
                "type": "object", "required": ["id", "type", "time", "data"],
                "properties": {
                    "id": {"type": "integer", "description": "per account: 1, 2, 3 … (resume"
                                                              " with after= / Last-Event-ID)"},
                    "type": {"const": type_},
                    "time": {"type": "string", "description": "when it happened, UTC ISO 8601"},
                    "data": {"$ref": ref_of[kind.model]}}}}
    refs_list = [{"$ref": f"#/channels/events/messages/{t}"} for t in CATALOGUE]
    return {
        "asyncapi": "3.0.0",
        "info": {"title": f"{title} call events", "version": version,
                 "description": "GET /events (WebSocket, or SSE with Accept: text/event-stream)"
                                " and webhooks (POST, Standard Webhooks signatures) carry these"
                                " events; docs/screen-pop.md tells how to follow them."},
        "channels": {"events": {
            "address": "/events",
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in CATALOGUE}}},
        "operations": {"receiveEvents": {"action": "receive",
                                         "channel": {"$ref": "#/channels/events"},
                                         "messages": refs_list}},
        "components": {"messages": messages, "schemas": schemas},
    }
