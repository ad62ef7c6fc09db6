"""From the CDRs of one call (one linked ID) to call-log rows: one per inside party.

Asterisk writes one CDR per pair of channels, so a call has several: an inbound call that rang two
devices has two (one ANSWERED, one NO ANSWER), a click-to-dial three (the Local;1 leg to the trunk,
and a Local;2 leg per device). The rules, documented in docs/call-log.md:

- Inside parties are extensions: channels of endpoints named by 2-10 digits (PJSIP/309-…), or the
  extension dialled when no channel was created (a call to 310 with no device fails before one).
  Other endpoints (PJSIP/trunk-…) are the outside world.
- A click-to-dial (a Local/<ext>@<ring context> channel, or a call callbridge recorded as dialled)
  is one OUTGOING row for its extension; its disposition is the far end's (the trunk leg), or the
  devices' when none answered; its talk time starts when the far end answered.
- Otherwise each CDR is inbound (trunk -> extension: INCOMING), outbound (extension -> trunk:
  OUTGOING) or internal (extension -> extension: a row for each side, INTERNAL).
- The CDRs of one party merge: the best disposition wins (ANSWERED > BUSY > NO ANSWER > FAILED),
  the call starts at the earliest start and ends at the latest end.
- Local channels are looked through: a leg through `Local/x@ctx;1/;2` (a queue member, a ring
  group, follow-me) is the caller's leg to the device the ';2' half dialled.
- Answered elsewhere: when a party that was rung answered, the others that only rang get no row.
- Picked up: the leg a directed pickup replaced only rang, even where Asterisk marked it answered.
- Numbers: an outgoing leg's number is the one its Dial() was given, not the dst Asterisk
  rewrites when the far end transfers the call.

Pure functions: no I/O, so the rules are tested on recorded CDRs without a PBX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from callbridge.ami.channels import is_extension_name, parse_channel

_CLID_NAME = re.compile(r'^\s*"?(.*?)"?\s*<[^>]*>\s*$')
_RANK = {"ANSWERED": 4, "BUSY": 3, "NO ANSWER": 2, "FAILED": 1, "CONGESTION": 1}


def clid_name(clid: str | None) -> str | None:
    """'"PSTN 5551234" <5551234>' -> 'PSTN 5551234'."""
    if not clid:
        return None
    m = _CLID_NAME.match(clid)
    name = (m.group(1) if m else clid).strip()
    return name or None


@dataclass
class RowDraft:
    extension: str
    direction: str
    disposition: str
    call_timestamp: str
    answer_timestamp: str | None
    end_timestamp: str | None
    duration: int
    billsec: int
    number_outside: str | None
    name_outside: str | None       # the caller ID name Asterisk gave, if any
    uniqueid: str | None
    call_id: str | None = None
    legs: list[dict] = field(default_factory=list, repr=False)


def _seconds(a: str | None, b: str | None) -> int:
    if not a or not b:
        return 0
    # fromisoformat reads 'YYYY-MM-DD HH:MM:SS' in C: ~30x faster than strptime
    return max(0, int((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()))


def _talked(answered: list[dict]) -> int:
    """Seconds talked over a party's answered legs: one leg's own billsec (Asterisk counts it
    from its exact times); over several, the seconds their answer-to-end spans cover, each
    counted once (two devices at once count once, a talk then a transfer's consultation add
    up)."""
    if len(answered) <= 1:
        return max((int(leg.get("billsec") or 0) for leg in answered), default=0)
    spans = sorted((leg["answer"], leg["end"]) for leg in answered
                   if leg.get("answer") and leg.get("end"))
    covered, reach = 0, None
    for start, end in spans:
        if reach is None or start > reach:
            covered += _seconds(start, end)
            reach = end
        elif end > reach:
            covered += _seconds(reach, end)
            reach = end
    return max(covered, max(int(leg.get("billsec") or 0) for leg in answered))


def _best(dispositions: list[str]) -> str:
    best = max(dispositions, key=lambda d: _RANK.get(d, 0), default="FAILED")
    return "FAILED" if best == "CONGESTION" else best


def _merge(extension: str, direction: str, legs: list[dict], number: str | None,
           name: str | None) -> RowDraft:
    start = min(leg["start"] for leg in legs)
    end = max((leg["end"] for leg in legs if leg.get("end")), default=None)
    answered = [leg for leg in legs if leg["disposition"] == "ANSWERED"]
    answer = min((leg["answer"] for leg in answered if leg.get("answer")), default=None)
    billsec = _talked(answered)
    first = min(legs, key=lambda leg: (leg["start"], leg.get("sequence", 0)))
    return RowDraft(extension, direction, _best([leg["disposition"] for leg in legs]), start,
                    answer, end, _seconds(start, end), billsec, number, name, first["uniqueid"],
                    legs=legs)


def build_rows(cdrs: list[dict], *, ring_context: str, dialed: dict | None = None,
               far_end: dict | None = None) -> list[RowDraft]:
    """The call-log rows of one linked ID. `dialed`: callbridge's record of a click-to-dial
    (extension, number, call_id); `far_end`: when its far end answered / hung up."""
    if not cdrs:
        return []
    c2d = _click_to_dial(cdrs, ring_context, dialed, far_end)
    if c2d is not None:
        return [c2d]
    parties: dict[str, tuple[str, list[dict], str | None, str | None]] = {}
    callees: set[str] = set()  # the parties that were rung (not those who called)
    ordered = sorted(cdrs, key=lambda c: (c["start"], c.get("sequence", 0)))
    for cdr in _picked_up_is_not_answered(_through_locals(ordered)):
        src, dst = parse_channel(cdr.get("channel")), parse_channel(cdr.get("dstchannel"))
        caller_ext = src.name if src is not None and src.is_extension else None
        if cdr.get("consultation"):
            if caller_ext in parties:  # the transferer stays on the call until it hands over
                parties[caller_ext][1].append(cdr)
            continue
        if dst is not None:
            callee_ext = dst.name if dst.is_extension else None
            callee_outside = dst.is_outside
        else:  # nothing was created to dial: the dialled extension, or an outside number
            callee_ext = cdr.get("dst") if is_extension_name(cdr.get("dst") or "") else None
            callee_outside = callee_ext is None and bool(cdr.get("dst"))
            if callee_ext and answered_by_application(cdr):
                callee_ext = None
        from_outside = src is not None and src.is_outside
        sides: list[tuple[str, str, str | None, str | None]] = []
        if from_outside and callee_ext:
            sides.append((callee_ext, "INCOMING", cdr.get("src"), clid_name(cdr.get("clid"))))
        elif caller_ext and callee_ext and caller_ext != callee_ext:
            sides.append((caller_ext, "INTERNAL", callee_ext, None))
            sides.append((callee_ext, "INTERNAL", caller_ext, clid_name(cdr.get("clid"))))
        elif caller_ext and callee_outside:
            sides.append((caller_ext, "OUTGOING", dialled_number(cdr) or cdr.get("dst"), None))
        if callee_ext and any(ext == callee_ext for ext, *_ in sides):
            callees.add(callee_ext)
        for ext, direction, number, name in sides:
            if ext not in parties:
                parties[ext] = (direction, [], number, name)
            parties[ext][1].append(cdr)
    rows = [_merge(ext, direction, legs, number, name)
            for ext, (direction, legs, number, name) in parties.items()]
    return _answered_elsewhere(rows, callees)


def answered_by_application(cdr: dict) -> bool:
    """A CDR answered with no channel dialled: an application answered (Queue, VoiceMail, an
    IVR), nobody at an extension."""
    return not cdr.get("dstchannel") and cdr["disposition"] == "ANSWERED"


def _answered_elsewhere(rows: list[RowDraft], callees: set[str]) -> list[RowDraft]:
    """When any party that was rung answered, those that only rang get no row: the call was
    taken (a queue's or ring group's other member, the next step of a forward), not missed.
    When nobody answered, each of them keeps its NO ANSWER / BUSY / FAILED row."""
    if not any(r.extension in callees and r.disposition == "ANSWERED" for r in rows):
        return rows
    return [r for r in rows if r.extension not in callees or r.disposition == "ANSWERED"]


_DIALLED = re.compile(r"^[A-Za-z0-9_]+/(?:[^/&,]+/)?(?:sips?:)?(\+?[0-9*#]{2,32})(?:@[^&,]*)?(?:[&,]|$)")


def dialled_number(cdr: dict) -> str | None:
    """The number a Dial() was given, from the CDR's lastdata: 'PJSIP/5551234@trunk,120' and
    'PJSIP/trunk/sip:5551234@host' both dialled 5551234. Asterisk rewrites a leg's dst when the
    far end transfers the call (dst becomes the transfer target); the dial string keeps what
    the extension dialled."""
    if cdr.get("lastapp") != "Dial":
        return None
    m = _DIALLED.match(cdr.get("lastdata") or "")
    return m.group(1) if m else None


def _picked_up_is_not_answered(cdrs: list[dict]) -> list[dict]:
    """A directed pickup swaps the picker's channel into the call, and Asterisk may mark the leg
    it replaced ANSWERED (for 0 s, depending on timing): the same caller's next leg, to another
    extension's channel, starts as that one is "answered" and is the real answer. Such a leg
    only rang. (A party that answers and transfers within the same second reads the same way:
    it, too, counts as having rung, not talked.)"""
    replaced = replaced_by_pickup(cdrs)
    if not replaced:
        return cdrs
    return [{**c, "disposition": "NO ANSWER", "answer": None} if id(c) in replaced else c
            for c in cdrs]


def replaced_by_pickup(cdrs: list[dict]) -> set[int]:
    """The id()s of the CDRs a directed pickup replaced (see _picked_up_is_not_answered)."""
    to_extensions = [(c, parse_channel(c.get("dstchannel"))) for c in cdrs
                     if c["disposition"] == "ANSWERED"]
    answered = [(c, dst.name) for c, dst in to_extensions if dst is not None and dst.is_extension]
    if len(answered) < 2:
        return set()
    return {id(c) for c, ext in answered
            if int(c.get("billsec") or 0) == 0 and c.get("answer")
            and any(o is not c and o.get("channel") == c.get("channel") and other != ext
                    and o["start"] >= c["answer"] for o, other in answered)}


def _pair(channel: str | None) -> tuple[str, str] | None:
    """'Local/309@from-queue-0000002a;2' -> ('Local/309@from-queue-0000002a', '2')."""
    if not channel or not channel.startswith("Local/") or ";" not in channel:
        return None
    name, half = channel.rsplit(";", 1)
    return name, half


def consultations(cdrs: list[dict]) -> set[int]:
    """The id()s of an attended transfer's consultations: CDRs into a Local pair (the
    transferer dialling the target) that another CDR entered later (the caller, handed over when
    the transferer hung up). A consultation is the transferer's time on the call, not a call
    of its own: the pair's ';2' leg is the target talking to the caller."""
    last: dict[str, dict] = {}
    for cdr in sorted(cdrs, key=lambda c: (c["start"], c.get("sequence") or 0)):
        into = _pair(cdr.get("dstchannel"))
        if into is not None and into[1] == "1":
            last[into[0]] = cdr
    return {id(c) for c in cdrs
            if (into := _pair(c.get("dstchannel"))) is not None and into[1] == "1"
            and last[into[0]] is not c}


def _through_locals(cdrs: list[dict]) -> list[dict]:
    """The CDRs with Local channels looked through (docs/call-log.md, "Local channels").

    A Dial or queue member `Local/309@ctx` is a pair of channels: the caller's CDR ends at the
    ';1' half, and the ';2' half's CDR dials the real device. The two are one leg: the ';2' CDR
    takes the caller's channel, number and name from the CDR that entered the pair, and that
    entering CDR is dropped. Pairs chain (a queue member that is a ring group), so the caller
    found is itself looked through. A ';2' CDR nothing entered (an Originate of a Local channel
    that isn't a click-to-dial) is left as it is: a Local channel is neither inside nor out."""
    entered: dict[str, dict] = {}  # pair name -> the CDR whose dstchannel is its ';1' half
    for cdr in cdrs:
        into = _pair(cdr.get("dstchannel"))
        if into is not None and into[1] == "1":
            entered[into[0]] = cdr  # the last to enter is who the pair ended up connected to
    if not entered:
        return cdrs

    def caller_of(cdr: dict, depth: int = 0) -> dict:
        own = _pair(cdr.get("channel"))
        if own is None or own[1] != "2" or own[0] not in entered or depth > 8:
            return cdr
        return caller_of(entered[own[0]], depth + 1)

    seen: list[dict] = []
    for cdr in cdrs:
        into = _pair(cdr.get("dstchannel"))
        if into is not None and into[1] == "1" and into[0] in entered:
            if entered[into[0]] is not cdr:
                seen.append({**cdr, "consultation": True})  # see consultations()
            continue  # the way into a pair: its ';2' CDR is the leg
        caller = caller_of(cdr)
        if caller is not cdr:
            cdr = {**cdr, "channel": caller.get("channel"), "src": caller.get("src"),
                   "clid": caller.get("clid")}
        seen.append(cdr)
    return seen


def _click_to_dial(cdrs: list[dict], ring_context: str, dialed: dict | None,
                   far_end: dict | None) -> RowDraft | None:
    locals_ = [(c, parse_channel(c.get("channel"))) for c in cdrs]
    ring = [(c, ch) for c, ch in locals_ if ch is not None and ch.tech == "Local"
            and ch.context == ring_context]
    if dialed is None and not ring:
        return None
    extension = dialed["extension"] if dialed else ring[0][1].name
    far_legs = [c for c, ch in ring if ch.half == "1" and c.get("dstchannel")]
    device_legs = [c for c, ch in ring if ch.half == "2"]
    number = dialed["number"] if dialed else (far_legs[0].get("dst") if far_legs else None)
    row = _merge(extension, "OUTGOING", cdrs, number, None)
    if far_legs:
        far = far_legs[0]
        row.disposition = _best([c["disposition"] for c in far_legs])
        row.uniqueid = far["uniqueid"]
        if far_end and far_end.get("answered_at"):
            # the times are to the millisecond (older rows: the second); the row shows the second
            row.answer_timestamp = far_end["answered_at"][:19]
            row.billsec = _seconds(far_end["answered_at"], far_end.get("ended_at") or row.end_timestamp)
        elif far["disposition"] == "ANSWERED":
            # Without the DialEnd event (backfilled from Master.csv) the trunk leg's answer time is
            # all there is; it is when the device answered, so billsec includes the far end's ringing.
            row.answer_timestamp = far.get("answer") or None
            row.billsec = int(far.get("billsec") or 0)
        else:
            row.answer_timestamp, row.billsec = None, 0
    else:
        # No device answered, so the number was never dialled.
        row.disposition = _best([c["disposition"] for c in device_legs]) if device_legs else "FAILED"
        if row.disposition == "ANSWERED":
            row.disposition = "FAILED"  # a device answered but the number could not be dialled
        row.answer_timestamp, row.billsec = None, 0
    row.call_id = (dialed or {}).get("call_id") or next(
        (c.get("userfield") for c in cdrs if c.get("userfield")), None)
    return row
