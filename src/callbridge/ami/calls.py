"""One Asterisk node's calls, folded once from its channel events.

Every channel event of the node (Newchannel, DialBegin, DialEnd, Hold, Unhold, Hangup) reaches
this model and nothing else; the rooms that care about calls (the call events, the call log, the
dialer's progress) subscribe to it and hear typed transitions, so a call's channels are tracked once,
its channel names parsed once, and which calls are still up is asked of one place:

    call_started(call)   the call's first channel appeared (uniqueid == linkedid): who called whom
    dial_started(dial)   a channel of the call dials another (a device, the mobile, the far end)
    dial_ended(dial)     that dial is over: answered, or not (dial.status)
    held(hold)           a channel of the call put it on hold, or took it back (hold.on)
    hangup_requested(left)
                         a channel's own side hung up (its phone sent BYE or CANCEL, or a
                         carrier did): AMI HangupRequest, which Asterisk's own clean-up of the
                         other channels (a soft hang-up) does not raise
    channel_left(left)   a channel of the call hung up
    call_over(call, t, seen)
                         its last channel hung up: the call is over on the PBX (seen=False:
                         a reconnect found it gone, its hang-up happened while we weren't looking)
    reconciled(alive)    after a (re)connect, the linkedids up on the PBX (None: couldn't ask);
                         calls followed here that are gone were told call_over first

A dial names the extension whose device rings, when one does: a PJSIP endpoint named like an
extension, or the extension's mobile, which a click-to-dial's ring leg (the Local ';2' half,
callbridge.ami.channels) dials through the trunk. The ';1' half dialling the number is the far
end, never a device.

Listeners may be gated (`when`): the call log and the call events hear the node only while this
instance holds its lease, the dialer always. The model itself always listens, so its picture of
what is up is whole when a lease is taken over. One listener that raises neither stops the
others nor the model. Memory is bounded: a call is forgotten when its last channel hangs up, and
at most MAX_CALLS are followed.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timezone

from callbridge.ami.channels import Channel, is_extension_name, parse_channel
from callbridge.ami.link import AmiError, AmiLink
from callbridge.logs import event
from callbridge.timeutil import iso

log = logging.getLogger("callbridge.ami")
MAX_CALLS = 10_000
CHANNEL_EVENTS = ("Newchannel", "DialBegin", "DialEnd", "Hangup", "Hold", "Unhold", "HangupRequest")
# Q.850 causes a phone's hang-up carries (HangupRequest gives the number only)
CAUSES = {"16": "Normal Clearing", "17": "User busy", "18": "No user responding",
          "19": "No answer", "21": "Call Rejected", "31": "Normal, unspecified"}
TRANSFER_EVENTS = ("AttendedTransfer", "BlindTransfer")


def stamp_of(ev: dict) -> float | None:
    """Asterisk's own time of an event (timestampevents = yes, asterisk-conf/manager.conf), as
    epoch seconds."""
    try:
        return float(ev["Timestamp"])
    except (KeyError, ValueError):
        return None


def iso_at(stamp: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC, the events' `time`."""
    return None if stamp is None else iso(datetime.fromtimestamp(stamp, timezone.utc))


def event_time(ev: dict) -> str | None:
    """Asterisk's own time of the event, as ISO 8601 UTC."""
    return iso_at(stamp_of(ev))


@dataclass
class LiveCall:
    """A call up on the PBX: the channels sharing a linkedid."""
    linkedid: str
    channels: set[str] = field(default_factory=set)  # uniqueids of its live channels
    origin: Channel | None = None      # its first channel, when its Newchannel was seen
    caller: str = ""                   # the first channel's caller ID number and name
    caller_name: str | None = None
    called: str = ""                   # what the first channel dialled (its Exten)
    click_to_dial: bool = False        # the first channel is Local/<ext>@<ring context>
    started: float | None = None       # Asterisk's time of the first channel's Newchannel


@dataclass(slots=True)
class Dial:
    """A channel of a call dialling another (DialBegin), or that dial's end (DialEnd)."""
    call: LiveCall
    source: str                 # the dialling channel's uniqueid
    source_channel: Channel | None
    dest: str                   # the dialled channel's uniqueid
    dest_name: str              # the dialled channel's name ('PJSIP/309-00000004')
    dest_channel: Channel | None
    extension: str | None       # the extension whose device (or mobile) rings, if one does
    device: str | None          # that device's contact URI (or the channel), or 'mobile'
    caller: str                 # the dialling channel's caller ID number, and what it dialled
    exten: str
    status: str | None          # DialStatus at the end (ANSWER, NOANSWER, BUSY, CANCEL …)
    stamp: float | None         # Asterisk's time of the event, epoch seconds
    dial_string: str = ""       # what Dial() was given for this channel ('5551234@trunk')

    @property
    def time(self) -> str | None:
        """Asterisk's time of the event as ISO 8601 UTC (formatted when asked: few dials need
        it, and formatting every one cost the ingest)."""
        return iso_at(self.stamp)


@dataclass(slots=True)
class Left:
    """A channel of a call hung up."""
    call: LiveCall
    uniqueid: str
    cause: str | None           # Cause-txt (or the cause code)
    stamp: float | None
    channel: str = ""           # its name ('PJSIP/309-00000004')


@dataclass(slots=True)
class Hold:
    """A channel of a call put it on hold (its phone's hold key: a re-INVITE with sendonly
    media) or took it back (on False)."""
    call: LiveCall
    uniqueid: str
    channel: str                # 'PJSIP/309-00000004'
    on: bool
    stamp: float | None


@dataclass(slots=True)
class Transfer:
    """A transfer Asterisk carried out (AttendedTransfer / BlindTransfer, Result Success)."""
    call: LiveCall
    kind: str                   # "attended" or "blind"
    transferer: str | None      # the extension that transferred, when an extension did
    target: str | None          # the extension the call went to, when it went to one
    stamp: float | None

    @property
    def time(self) -> str | None:
        return iso_at(self.stamp)


def _extension_of(channel: str | None) -> str | None:
    """The extension behind a channel: an extension's device, or a Local/<ext>@… pair (what an
    attended transfer dials the target through)."""
    ch = parse_channel(channel)
    if ch is None or not is_extension_name(ch.name):
        return None
    return ch.name if ch.is_extension or ch.tech == "Local" else None


class CallListener:
    """What a room overrides of the model's transitions (each defaults to nothing)."""

    def call_started(self, call: LiveCall) -> None: ...

    def dial_started(self, dial: Dial) -> None: ...

    def dial_ended(self, dial: Dial) -> None: ...

    def held(self, hold: Hold) -> None: ...

    def hangup_requested(self, left: Left) -> None: ...

    def channel_left(self, left: Left) -> None: ...

    def call_over(self, call: LiveCall, stamp: float | None, seen: bool) -> None: ...

    def transferred(self, transfer: Transfer) -> None: ...

    def reconciled(self, alive: set[str] | None) -> None: ...

    def event_seen(self, stamp: float | None) -> object:
        """Any channel event's time, before its transition (the call log's stream clock)."""


_TRANSITIONS = ("event_seen", "call_started", "dial_started", "dial_ended", "held",
                "hangup_requested", "channel_left", "call_over", "transferred", "reconciled")


def _always() -> bool:
    return True


class CallModel:
    def __init__(self, node: str, ring_context: str, max_calls: int = MAX_CALLS):
        self.node = node
        self.ring_context = ring_context
        self.max_calls = max_calls
        self._calls: OrderedDict[str, LiveCall] = OrderedDict()
        # which call each live channel was last seen in: Asterisk moves a channel to another
        # linkedid (a directed pickup swaps the picker's channel into the call it picks up), and
        # the channel's Hangup then names the new one while the old call still counts it
        self._call_of: dict[str, str] = {}
        # per transition, the listeners that implement it (bound methods) and their gates: an
        # event costs only what its listeners do (the ingest bench measured the difference)
        self._to: dict[str, list[tuple[Callable[..., object], Callable[[], bool]]]] = {
            name: [] for name in _TRANSITIONS}
        # uniqueids that hung up while a reconnect's snapshot was asked for (None: none under way)
        self._hung_up: set[str] | None = None

    # ---- wiring -------------------------------------------------------------------------------

    def attach(self, link: AmiLink) -> None:
        """Subscribes the model, once, to the node's channel events and (re)connects."""
        for name in CHANNEL_EVENTS + TRANSFER_EVENTS:
            link.on(name, self.feed)
        link.on_connect(lambda: self.reconcile(link))

    def subscribe(self, listener: CallListener, when: Callable[[], bool] = _always) -> None:
        for name in _TRANSITIONS:
            if getattr(type(listener), name) is not getattr(CallListener, name):
                self._to[name].append((getattr(listener, name), when))

    # ---- what the rooms ask ---------------------------------------------------------------------

    def is_live(self, linkedid: str) -> bool:
        return linkedid in self._calls

    def get(self, linkedid: str) -> LiveCall | None:
        return self._calls.get(linkedid)

    def __len__(self) -> int:
        return len(self._calls)

    # ---- events -----------------------------------------------------------------------------

    def feed(self, ev: dict) -> None:
        """One AMI channel event (the link calls it; tests and recorded streams too)."""
        lid = ev.get("Linkedid", "")
        if not lid:
            if ev.get("Event") in TRANSFER_EVENTS:
                self._transfer(ev)
            return
        stamp = stamp_of(ev)
        self._tell("event_seen", stamp)
        name = ev.get("Event")
        if name == "Newchannel":
            self._new_channel(lid, ev, stamp)
        elif name == "DialBegin":
            began = self._dial(lid, ev, None, stamp)
            if began is not None:
                self._tell("dial_started", began)
        elif name == "DialEnd":
            ended = self._dial(lid, ev, ev.get("DialStatus", ""), stamp)
            if ended is not None:
                self._tell("dial_ended", ended)
        elif name == "Hangup":
            self._hangup(lid, ev, stamp)
        elif name == "HangupRequest":
            call = self._calls.get(lid)
            if call is not None:
                cause = ev.get("Cause", "") or ""
                self._tell("hangup_requested", Left(call, ev.get("Uniqueid", ""),
                                                    CAUSES.get(cause, cause or None), stamp,
                                                    ev.get("Channel", "") or ""))
        elif name in ("Hold", "Unhold"):
            call = self._calls.get(lid)
            if call is not None:  # a call followed from its start (or its first dial)
                self._tell("held", Hold(call, ev.get("Uniqueid", ""), ev.get("Channel", "") or "",
                                        name == "Hold", stamp))

    def _call(self, lid: str) -> LiveCall:
        call = self._calls.get(lid)
        if call is None:
            call = self._calls[lid] = LiveCall(lid)
            while len(self._calls) > self.max_calls:
                _, dropped = self._calls.popitem(last=False)
                for uid in dropped.channels:
                    self._call_of.pop(uid, None)
        return call

    def _new_channel(self, lid: str, ev: dict, stamp: float | None) -> None:
        uid = ev.get("Uniqueid", "")
        call = self._call(lid)
        call.channels.add(uid)
        self._call_of[uid] = lid
        if uid != lid:
            return
        ch = call.origin = parse_channel(ev.get("Channel"))  # the call's first channel
        call.caller = ev.get("CallerIDNum", "") or ""
        name = ev.get("CallerIDName", "")
        call.caller_name = name if name and name != "<unknown>" else None
        call.called = ev.get("Exten", "") or ""
        call.started = stamp
        call.click_to_dial = (ch is not None and ch.tech == "Local"
                              and ch.context == self.ring_context)
        self._tell("call_started", call)

    def _dial(self, lid: str, ev: dict, status: str | None, stamp: float | None) -> Dial | None:
        call = self._calls.get(lid)
        if call is None:
            if status is not None:
                return None  # the end of a dial begun before we looked: nothing follows it
            call = self._call(lid)  # joined mid-call: its channels' Newchannels came before
        if status is None:  # both ends of a dial are up as it begins (also when joined mid-call)
            for uid in (ev.get("Uniqueid"), ev.get("DestUniqueid")):
                if uid:
                    call.channels.add(uid)
                    self._call_of[uid] = lid
        source = parse_channel(ev.get("Channel"))
        dest_name = ev.get("DestChannel", "") or ""
        dest = parse_channel(dest_name)
        extension = device = None
        if dest is not None and dest.is_extension:
            extension = dest.name
            _, _, contact = (ev.get("DialString") or "").partition("/")
            device = contact or dest_name
        elif (dest is not None and dest.is_outside and source is not None
              and source.tech == "Local" and source.context == self.ring_context
              and source.half == "2"):
            extension, device = source.name, "mobile"  # the ring leg rings the user's mobile
        return Dial(call=call, source=ev.get("Uniqueid", ""), source_channel=source,
                    dest=ev.get("DestUniqueid", ""), dest_name=dest_name, dest_channel=dest,
                    extension=extension, device=device, caller=ev.get("CallerIDNum", "") or "",
                    exten=ev.get("Exten", "") or "", status=status, stamp=stamp,
                    dial_string=ev.get("DialString", "") or "")

    def _transfer(self, ev: dict) -> None:
        """Transfer events name their channels with prefixes (Transferer…, OrigTransferer…,
        TransferTarget…): no plain Linkedid. The call is the transferer's."""
        if ev.get("Result") != "Success":
            return
        if ev.get("Event") == "AttendedTransfer":
            lid = ev.get("OrigTransfererLinkedid") or ev.get("TransfereeLinkedid") or ""
            kind, transferer = "attended", _extension_of(ev.get("OrigTransfererChannel"))
            # the target's channel (a Local pair's half, or the target's device); when Asterisk
            # optimized that away first, who the transferer and the caller are connected to
            target = next((e for e in (_extension_of(ev.get("TransferTargetChannel")),
                                       ev.get("SecondTransfererConnectedLineNum"),
                                       ev.get("TransfereeConnectedLineNum"))
                           if e and is_extension_name(e) and e != transferer), None)
        else:
            lid = ev.get("TransfererLinkedid") or ev.get("TransfereeLinkedid") or ""
            kind, transferer = "blind", _extension_of(ev.get("TransfererChannel"))
            exten = ev.get("Extension") or ""
            target = exten if is_extension_name(exten) else None
        call = self._calls.get(lid)
        if call is None:
            return  # not followed (it began before we looked)
        self._tell("transferred", Transfer(call, kind, transferer, target, stamp_of(ev)))

    def _hangup(self, lid: str, ev: dict, stamp: float | None) -> None:
        uid = ev.get("Uniqueid", "")
        if self._hung_up is not None:
            self._hung_up.add(uid)
        call = self._calls.get(lid)
        if call is None:
            call = LiveCall(lid)  # not followed (it began before we looked): said all the same
        call.channels.discard(uid)
        left = Left(call, uid, ev.get("Cause-txt") or ev.get("Cause"), stamp,
                    ev.get("Channel", "") or "")
        self._tell("channel_left", left)
        if not call.channels and self._calls.pop(lid, None) is not None:
            self._tell("call_over", call, stamp, True)
        was = self._call_of.pop(uid, lid)
        if was != lid:  # it had moved here from another call: that one counts it no more
            before = self._calls.get(was)
            if before is not None:
                before.channels.discard(uid)
                if not before.channels:
                    del self._calls[was]
                    self._tell("call_over", before, stamp, True)

    # ---- reconnects -----------------------------------------------------------------------------

    async def reconcile(self, link: AmiLink) -> None:
        """After each (re)connect: what is up now (events were missed while the link was down).
        Calls followed here that are gone are over; the picture becomes the snapshot's, minus
        what hung up while it was being taken."""
        hung_up = self._hung_up = set()
        try:
            reply = await link.action({"Action": "CoreShowChannels"}, timeout=10)
        except AmiError as exc:
            event(log, "ami.snapshot_failed", logging.WARNING, node=self.node, error=str(exc))
            self._tell("reconciled", None)
            return
        finally:
            if self._hung_up is hung_up:
                self._hung_up = None
        self.replace(reply if isinstance(reply, list) else [], hung_up)

    def replace(self, channels: Iterable[dict], hung_up: AbstractSet[str] = frozenset()) -> None:
        """The picture from a CoreShowChannels reply (its CoreShowChannel events)."""
        live: dict[str, set[str]] = {}
        for ch in channels:
            uid = ch.get("Uniqueid", "")
            if ch.get("Event") == "CoreShowChannel" and ch.get("Linkedid") and uid not in hung_up:
                live.setdefault(ch["Linkedid"], set()).add(uid)
        gone = [call for lid, call in self._calls.items() if lid not in live]
        self._call_of = {uid: lid for lid, uids in live.items() for uid in uids}
        for lid, uids in live.items():
            self._call(lid).channels = uids
        for call in gone:
            del self._calls[call.linkedid]
            call.channels.clear()
            self._tell("call_over", call, None, False)
        alive = set(live)
        self._tell("reconciled", alive)

    def _tell(self, transition: str, *args: object) -> None:
        for hear, when in self._to[transition]:
            if not when():
                continue
            try:
                hear(*args)
            except Exception:  # one room's bug must not blind the others
                log.exception("ami.call_listener_failed",
                              extra={"fields": {"transition": transition,
                                                "listener": getattr(hear, "__qualname__", "")}})
