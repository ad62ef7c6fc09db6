"""From the node's call model (callbridge.ami.calls) to call.ringing and call.answered, and from
ContactStatus to device.state: what a screen-pop needs of each call.

- A call rings at an extension when a channel dials one of its devices (a dial naming an
  extension), whoever dials: the trunk, a queue or ring group through Local channels, another
  extension, or callbridge's click-to-dial ring leg (which also rings the extension's mobile
  through the trunk). The devices of one Dial() begin within a loop turn
  or two, so call.ringing waits RING_COALESCE seconds to name all of them. An extension that
  stops ringing (every device's DialEnd) and rings again (a queue's next round) pops again.
- Direction and caller come from the call's first channel (call_started): the trunk is inbound,
  callbridge's ring context a click-to-dial (outbound), a device internal.
- call.answered: the DialEnd ANSWER of one of those devices. call.ended and call.missed come
  from the call log's rows (callbridge.calllog), not from here: a call that ended while
  callbridge was down still gets them, once.

The account is the one owning the extension; extensions no account owns produce nothing.
Memory is bounded: calls are dropped when the model says they are over, and at most MAX_CALLS
are followed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from callbridge.accounts.extensions import Extension, ExtensionService
from callbridge.ami.calls import CallListener, Dial, LiveCall, Transfer, event_time, iso_at
from callbridge.events.models import (
    CallAnswered,
    CallRinging,
    CallTaken,
    CallTransferred,
    DeviceState,
    Direction,
)
from callbridge.events.notifier import CallNotifier
from callbridge.logs import event

log = logging.getLogger("callbridge.events")
# s: the DialBegins of one Dial() arrive together (one AMI read, measured); a short wait names
# every device in one call.ringing without holding the pop back noticeably
RING_COALESCE = 0.003
DRAIN_SECONDS = 5.0  # s: at most this long at shutdown for events waiting on a contact lookup
MAX_CALLS = 10_000
_REGISTERED: dict[str, Literal["registered", "unreachable"]] = {
    "Created": "registered", "Reachable": "registered",
    "Removed": "unreachable", "Unreachable": "unreachable"}


@dataclass
class _Ringing:
    devices: dict[str, str] = field(default_factory=dict)  # dest uniqueid -> device
    announced: bool = False
    answered: bool = False
    taken: bool = False  # another extension answered: no pop from now on
    stamp: float | None = None  # Asterisk's time of the first DialBegin (epoch seconds)

    @property
    def time(self) -> str | None:
        return iso_at(self.stamp)


@dataclass
class _Call:
    linkedid: str
    direction: Direction = "inbound"
    caller: str = ""
    caller_name: str | None = None
    called: str = ""
    ringing: dict[str, _Ringing] = field(default_factory=dict)  # extension -> its ringing


def _rang(ringing: _Ringing, end: Dial) -> bool:
    """Whether a device's ringing lasted past the coalescing window, by Asterisk's clock."""
    if ringing.stamp is None or end.stamp is None:
        return False  # no clock to tell by (timestampevents off): as the window's timer says
    return end.stamp - ringing.stamp >= RING_COALESCE


class CallEvents(CallListener):
    def __init__(self, notifier: CallNotifier, extensions: ExtensionService,
                 dialed_number: Callable[[str], str | None] = lambda call_id: None,
                 node: str = "default"):
        self.notifier = notifier  # what goes out, and with which contact card
        self.extensions = extensions
        self.node = node  # the Asterisk node whose events these are
        self.dialed_number = dialed_number  # the number a click-to-dial call dials, by call id
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        # the last event still waiting for a contact lookup: later ones queue behind it, so
        # events are stored in the order Asterisk reported them (with SQLite's lookups, which
        # never wait, nothing ever queues)
        self._pending: asyncio.Task | None = None
        # ringings inside their coalescing window, announced by a timer (drain() announces them)
        self._coalescing: dict[asyncio.TimerHandle, tuple[_Call, str, _Ringing]] = {}

    def _then(self, emit: Callable[[], Awaitable[None] | None]) -> None:
        """Runs emit now, or after the pending lookups (see _pending)."""
        before = self._pending
        if before is None or before.done():
            result = emit()
            self._pending = None if result is None else asyncio.ensure_future(result)
            return

        async def queued() -> None:
            await asyncio.wait([before])
            result = emit()
            if result is not None:
                await result
        self._pending = asyncio.ensure_future(queued())

    def _announce_soon(self, call: _Call, extension: str, ringing: _Ringing) -> None:
        def due() -> None:
            del self._coalescing[handle]
            self._announce(call, extension, ringing)
        handle = asyncio.get_running_loop().call_later(RING_COALESCE, due)
        self._coalescing[handle] = (call, extension, ringing)

    async def drain(self) -> None:
        """At shutdown (the AMI link closed): announces the ringings still inside their
        coalescing window and waits for the events queued behind a contact lookup, so the
        journal, closed next, stores them all. A lookup that hangs (the database out of reach)
        holds the stop DRAIN_SECONDS at most."""
        for handle, (call, extension, ringing) in list(self._coalescing.items()):
            handle.cancel()
            del self._coalescing[handle]
            self._announce(call, extension, ringing)
        deadline = asyncio.get_running_loop().time() + DRAIN_SECONDS
        while self._pending is not None and not self._pending.done():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                event(log, "events.drain_timeout", logging.WARNING, node=self.node)
                self._pending.cancel()
                return
            await asyncio.wait([self._pending], timeout=left)

    def _keep(self, call: _Call) -> _Call:
        self._calls[call.linkedid] = call
        while len(self._calls) > MAX_CALLS:
            self._calls.popitem(last=False)
        return call

    # ---- the node's calls (callbridge.ami.calls) ------------------------------------------------

    def call_started(self, live: LiveCall) -> None:
        call = self._keep(_Call(live.linkedid, caller=live.caller, caller_name=live.caller_name,
                                called=live.called))
        if live.click_to_dial:
            call.direction = "outbound"
            call.called = self.dialed_number(live.linkedid) or live.caller
        elif live.origin is not None and live.origin.is_extension:
            call.direction = "internal"

    def call_over(self, live: LiveCall, stamp: float | None, seen: bool) -> None:
        self._calls.pop(live.linkedid, None)

    def dial_started(self, dial: Dial) -> None:
        extension = dial.extension
        if extension is None or self.extensions.owner(extension) is None:
            return
        lid = dial.call.linkedid
        call = self._calls.get(lid)
        if call is None:  # callbridge joined mid-call: the dialling channel says what it can
            source = dial.source_channel
            call = self._keep(_Call(lid, caller=dial.caller, called=dial.exten or extension,
                                    direction="internal" if source is not None
                                    and source.is_extension else "inbound"))
        ringing = call.ringing.get(extension)
        if ringing is None or (not ringing.devices and not ringing.answered):
            ringing = call.ringing[extension] = _Ringing(stamp=dial.stamp)
            self._announce_soon(call, extension, ringing)
        ringing.devices[dial.dest] = dial.device or dial.dest_name

    def dial_ended(self, dial: Dial) -> None:
        call = self._calls.get(dial.call.linkedid)
        if call is None:
            return
        for extension, ringing in call.ringing.items():
            device = ringing.devices.get(dial.dest)
            if device is None:
                continue
            if dial.status == "ANSWER" and not ringing.answered:
                ringing.answered = True
                owner = self.extensions.owner(extension)
                if owner is not None:
                    if not ringing.announced:  # answered within the coalescing window
                        self._announce(call, extension, ringing)
                    self._answered(call, owner, extension, device, dial)
                self._taken_from_others(call, extension, dial, "answered_elsewhere")
            if not ringing.answered:
                if not ringing.announced and _rang(ringing, dial):
                    # It rang, for longer than the coalescing window by Asterisk's clock, and
                    # stops before the window's timer fired here: callbridge read the two
                    # events late (a busy loop reads a backlog in one go). Said now, with the
                    # devices that rang; an instant failure of a device stays unannounced.
                    self._announce(call, extension, ringing)
                # stopped ringing there; kept for the answer's device lookup otherwise
                del ringing.devices[dial.dest]
            return
        if dial.status == "ANSWER" and dial.extension is not None and call.ringing:
            self._picked_up(call, dial.extension, dial)

    def _picked_up(self, call: _Call, taker: str, dial: Dial) -> None:
        """A dial answered by a device that never rang for it: a directed pickup (Asterisk
        swaps the picker's channel in and ends the dial with it). The picker answered; every
        extension that rang had its call taken."""
        if taker in call.ringing:
            return  # one of its own devices rang: answered at the extension, not picked up
        owner = self.extensions.owner(taker)
        call.ringing[taker] = _Ringing(answered=True, announced=True, stamp=dial.stamp)
        if owner is not None:
            self._answered(call, owner, taker, dial.device or dial.dest_name, dial)
        self._taken_from_others(call, taker, dial, "picked_up")

    def _answered(self, call: _Call, owner: Extension, extension: str, device: str,
                  dial: Dial) -> None:
        data = CallAnswered(call_id=call.linkedid, node=self.node, direction=call.direction,
                            extension=extension, device=device)
        self._then(partial(self.notifier.answered, owner, data, dial.time))

    def _taken_from_others(self, call: _Call, taker: str, dial: Dial,
                           reason: Literal["answered_elsewhere", "picked_up"]) -> None:
        """Every other extension that rang for the call and didn't answer: its card closes
        (call.taken), and a ringing still inside its coalescing window never pops."""
        for extension, ringing in call.ringing.items():
            if extension == taker or ringing.answered or ringing.taken:
                continue
            ringing.taken = True
            owner = self.extensions.owner(extension)
            if not ringing.announced or owner is None:
                continue
            data = CallTaken(call_id=call.linkedid, node=self.node, direction=call.direction,
                             extension=extension, taken_by=taker, reason=reason)
            self._then(partial(self.notifier.taken, owner, data, dial.time))

    def transferred(self, transfer: Transfer) -> None:
        """call.transferred to the transferer (its card closes) and to the target (its card
        shows the outside party: the number and contact the call rang with)."""
        call = self._calls.get(transfer.call.linkedid)
        if call is None:
            return
        number = self._number(call) or None
        for extension in dict.fromkeys(e for e in (transfer.transferer, transfer.target) if e):
            owner = self.extensions.owner(extension)
            if owner is None:
                continue
            data = CallTransferred(call_id=call.linkedid, node=self.node,
                                   direction=call.direction, extension=extension,
                                   transferred_by=transfer.transferer, to=transfer.target,
                                   kind="attended" if transfer.kind == "attended" else "blind",
                                   number=number)
            self._then(partial(self.notifier.transferred, owner, data, transfer.time))

    @staticmethod
    def _number(call: _Call) -> str:
        """The outside party: the caller of an inbound call, the number a click-to-dial dials."""
        return call.caller if call.direction == "inbound" else (
            call.called if call.direction == "outbound" else "")

    # ---- device state (ContactStatus, straight from the link) --------------------------------

    def on_contact_status(self, ev: dict) -> None:
        state = _REGISTERED.get(ev.get("ContactStatus", ""))
        extension = ev.get("AOR") or ev.get("EndpointName") or ""
        owner = self.extensions.owner(extension) if state else None
        if owner is None or state is None:
            return
        data = DeviceState(extension=extension, device=ev.get("URI", ""), state=state,
                           node=self.node, reason=ev.get("ContactStatus", ""))
        self._then(partial(self.notifier.device_state, owner, data, event_time(ev)))

    # ---- events --------------------------------------------------------------------------------

    def _announce(self, call: _Call, extension: str, ringing: _Ringing) -> None:
        if ringing.announced or ringing.taken or not (ringing.devices or ringing.answered):
            return  # already said, taken elsewhere, or it stopped ringing within the window
        ringing.announced = True
        owner = self.extensions.owner(extension)
        if owner is None:
            return
        number = self._number(call)
        data = CallRinging(call_id=call.linkedid, direction=call.direction, extension=extension,
                           node=self.node,
                           devices=sorted(set(ringing.devices.values())), caller=call.caller,
                           caller_name=call.caller_name, called=call.called or extension,
                           number=number or None, contact=None)
        self._then(partial(self.notifier.ringing, owner, data, ringing.time))
