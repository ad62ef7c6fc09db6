"""A call's story (GET /calls/{linked_id}): its stored CDRs, in order, each read as the call log
reads it (callbridge.calllog.builder): who dialled whom, which devices rang, who talked, what an
application answered, what a pickup replaced, which
leg was an attended transfer's consultation; and who put the call on hold, when (live events:
CDRs do not record hold). Pure: tested on recorded CDRs like the builder.

CDRs are what survives a restart of callbridge or of Asterisk (Master.csv fills any gap), so a
story can be told for any call the call log holds, not only for calls seen live.
"""

from __future__ import annotations

import re

from callbridge.ami.channels import is_extension_name, parse_channel
from callbridge.calllog.builder import answered_by_application, consultations, replaced_by_pickup

_CONTACT = re.compile(r"sips?:[^&,\s]+")


def _party(channel: str | None, fallback: str | None, application: str | None) -> dict:
    ch = parse_channel(channel)
    if ch is None:
        if fallback and is_extension_name(fallback):
            return {"kind": "extension", "name": fallback, "channel": None}
        if application and application not in ("Dial", "AppDial"):
            return {"kind": "application", "name": application, "channel": None}
        return {"kind": "unknown", "name": fallback or "", "channel": None}
    if ch.tech == "Local":
        return {"kind": "local", "name": f"{ch.name}@{ch.context}" if ch.context else ch.name,
                "channel": channel}
    return {"kind": "extension" if ch.is_extension else "outside",
            "name": ch.name if ch.is_extension else (fallback or ch.name), "channel": channel}


def legs_of(cdrs: list[dict]) -> list[dict]:
    """The legs of one call (its CDRs, any order) as CallLeg fields, in the order they began."""
    ordered = sorted(cdrs, key=lambda c: (c["start"], c.get("sequence") or 0))
    replaced = replaced_by_pickup(ordered)
    consulting = consultations(ordered)
    legs = []
    for c in ordered:
        app = c.get("lastapp") or None
        source = _party(c.get("channel"), c.get("src"), None)
        destination = _party(c.get("dstchannel"), c.get("dst"), app)
        if destination["kind"] == "extension" and answered_by_application(c):
            destination = {"kind": "application", "name": app or "", "channel": None}
        if id(c) in replaced:
            reading = "replaced_by_pickup"
        elif id(c) in consulting:
            reading = "consulted"
        elif c["disposition"] == "ANSWERED" and destination["kind"] == "application":
            reading = "answered_by_application"
        elif c["disposition"] == "ANSWERED":
            reading = "talked"
        elif c["disposition"] in ("NO ANSWER", "BUSY"):
            reading = "rang"
        else:
            reading = "failed"
        legs.append({"sequence": c.get("sequence") or 0, "start": c["start"],
                     "answer": c.get("answer"), "end": c.get("end"),
                     "billsec": int(c.get("billsec") or 0), "disposition": c["disposition"],
                     "source": source, "destination": destination, "application": app,
                     "devices": _CONTACT.findall(c.get("lastdata") or "") if app == "Dial"
                     else [], "reading": reading})
    return legs


def _named(channel: str, legs: list[dict]) -> dict:
    """The party on channel as the call's legs name it: an outside channel (PJSIP/trunk-…) is
    its number there (the leg's src or dst), not the trunk's endpoint name."""
    for leg in legs:
        for party in (leg["source"], leg["destination"]):
            if party["channel"] == channel:
                return party
    return _party(channel, None, None)


def holds_of(holds: list[dict], legs: list[dict]) -> list[dict]:
    """The call's hold periods (stored as the AMI Hold / Unhold events came) as CallHold fields:
    who held (the party whose phone pressed hold; the others heard music), from when, until."""
    return [{"party": _named(h["channel"], legs), "start": h["start"], "end": h["end"]}
            for h in holds]


def hangup_of(hangup: dict | None, legs: list[dict]) -> dict | None:
    """Who hung up (the first party that talked whose own side hung up while another was still
    on the call), as a CallHangup; None when not known (nobody answered, the call was ended
    from AMI or the dialplan, or it ended while no instance read the node)."""
    if hangup is None:
        return None
    return {"party": _named(hangup["channel"], legs), "at": hangup["at"],
            "cause": hangup["cause"]}
