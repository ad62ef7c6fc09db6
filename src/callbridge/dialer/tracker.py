"""Follows each click-to-dial call through its node's call model, correlated by its call id.

The Originate sets ChannelId = call id, so every channel of the call has Linkedid = call id: one
dict lookup per transition (callbridge.ami.calls) decides whether it is ours. The walk:

    queued     Originate accepted by Asterisk
    ringing    the ring context dialled the extension's devices (DialBegin on the ;2 leg)
    answered   a device answered (DialEnd ANSWER on the ;2 leg): `device` says which
    connected  the far end answered (DialEnd ANSWER on the ;1 leg's Dial to the number)
    ended      the call is over (its last channel hung up); failure_reason says why when it
               never connected, or that the PBX was lost while the call was followed (LostCalls)

Memory is bounded: at most `max_calls` calls are kept, ended ones age out after `keep_seconds`
(5 minutes: GET /dialer/calls/{id} then answers from the call's last dial.progress in the event
journal, kept for its retention), and the oldest are dropped first when the table is full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from callbridge.aio import cancel_and_wait
from callbridge.ami.calls import CallListener, Dial, Left, LiveCall
from callbridge.ami.channels import ring_leg
from callbridge.ami.link import AmiLink
from callbridge.dialer.models import CallProgress
from callbridge.logs import event
from callbridge.timeutil import utc_now_iso

log = logging.getLogger("callbridge.dialer")

_ORIGINATE_REASONS = {"0": "failed: no reachable device or dialplan error", "1": "hung up",
                      "3": "no answer", "5": "busy", "8": "congestion"}
_DIAL_FAILURES = {"BUSY": "far end busy", "NOANSWER": "far end did not answer",
                  "CHANUNAVAIL": "far end unavailable", "CONGESTION": "congestion",
                  "CANCEL": "cancelled"}
ORDER = ("queued", "ringing", "answered", "connected", "ended")


@dataclass
class TrackedCall:
    call_id: str
    account_id: int
    extension: str
    phonenumber: str
    node: str = "default"
    state: str = "queued"
    device: str | None = None
    failure_reason: str | None = None
    hangup_cause: str | None = None
    timestamps: dict[str, str] = field(default_factory=dict)
    ended_at: float | None = None
    on_change: Callable[["TrackedCall"], None] | None = field(default=None, repr=False)

    def advance(self, state: str) -> None:
        if self.state == "ended" or ORDER.index(state) <= ORDER.index(self.state):
            return
        self.state = state
        self.timestamps.setdefault(state, utc_now_iso())
        if self.on_change is not None:
            self.on_change(self)

    def end(self, reason: str | None = None) -> None:
        if reason and self.state != "connected" and self.failure_reason is None:
            self.failure_reason = reason
        if self.state != "ended":
            self.ended_at = time.monotonic()
            self.advance("ended")

    def lose(self, reason: str) -> None:
        """Ends a call callbridge can no longer follow (its PBX went away): whatever it had
        reached, connected included, the reason says why it ended without a hang-up seen."""
        if self.state != "ended":
            self.failure_reason = reason
            self.end()

    def view(self) -> CallProgress:
        return CallProgress(call_id=self.call_id, extension=self.extension,
                            phonenumber=self.phonenumber, state=self.state, device=self.device,
                            failure_reason=self.failure_reason, hangup_cause=self.hangup_cause,
                            timestamps=dict(self.timestamps))


class CallTracker(CallListener):
    def __init__(self, max_calls: int = 10_000, keep_seconds: float = 300.0,
                 on_change: Callable[[TrackedCall], None] | None = None):
        """on_change: told of every state a call reaches (the dial.progress events)."""
        self.on_change = on_change
        self.max_calls = max_calls
        self.keep_seconds = keep_seconds
        self._calls: OrderedDict[str, TrackedCall] = OrderedDict()
        self._next_prune = 0.0

    def __len__(self) -> int:
        return len(self._calls)

    def start(self, call_id: str, account_id: int, extension: str, phonenumber: str,
              node: str = "default") -> TrackedCall:
        self._prune()
        call = TrackedCall(call_id, account_id, extension, phonenumber, node,
                           on_change=self.on_change)
        call.timestamps["queued"] = utc_now_iso()
        self._calls[call_id] = call
        if self.on_change is not None:
            self.on_change(call)
        return call

    def number_of(self, call_id: str) -> str | None:
        call = self._calls.get(call_id)
        return call.phonenumber if call is not None else None

    def get(self, call_id: str, account_id: int) -> TrackedCall | None:
        call = self._calls.get(call_id)
        return call if call is not None and call.account_id == account_id else None

    def fail(self, call_id: str, reason: str) -> None:
        call = self._calls.get(call_id)
        if call is not None:
            call.end(reason)

    def unended(self, node: str) -> list[TrackedCall]:
        """The node's calls that have not ended."""
        return [c for c in self._calls.values() if c.node == node and c.state != "ended"]

    def _prune(self) -> None:
        now = time.monotonic()
        if now >= self._next_prune:  # the age scan walks every call: at most once a minute
            self._next_prune = now + 60.0
            for cid in [c.call_id for c in self._calls.values()
                        if c.ended_at is not None and now - c.ended_at > self.keep_seconds]:
                del self._calls[cid]
        while len(self._calls) >= self.max_calls:
            self._calls.popitem(last=False)

    # ---- AMI events (registered on the link by the app factory) ------------------------------

    def on_originate_response(self, call_id: str, message: dict) -> None:
        """The completing answer of our Originate (panoramisk hands it to the action, not to event
        handlers; on failure its Uniqueid is '<null>', so the caller names the call)."""
        call = self._calls.get(call_id)
        if call is None:
            return
        if message.get("Response") == "Failure":
            call.end(_ORIGINATE_REASONS.get(str(message.get("Reason")), "failed"))

    def dial_started(self, dial: Dial) -> None:
        call = self._calls.get(dial.call.linkedid)
        if call is not None and dial.source == ring_leg(call.call_id):  # the ring leg dials
            call.advance("ringing")                                     # the devices

    def dial_ended(self, dial: Dial) -> None:
        call = self._calls.get(dial.call.linkedid)
        if call is None:
            return
        if dial.source == ring_leg(call.call_id) and dial.status == "ANSWER":
            call.device = "mobile" if dial.dest_name.startswith("PJSIP/trunk") else dial.dest_name
            call.advance("answered")
        elif dial.source == call.call_id:          # the answered side dials the number
            if dial.status == "ANSWER":
                call.advance("connected")
            elif dial.status in _DIAL_FAILURES:
                call.failure_reason = _DIAL_FAILURES[dial.status]

    def channel_left(self, left: Left) -> None:
        call = self._calls.get(left.call.linkedid)
        if call is not None and left.uniqueid == call.call_id:
            call.hangup_cause = left.cause

    def call_over(self, over: LiveCall, stamp: float | None, seen: bool) -> None:
        call = self._calls.get(over.linkedid)
        if call is None or not seen:  # gone unseen: LostCalls says why (reconciled)
            return
        reason = None
        if call.state in ("queued", "ringing"):
            reason = "no device answered"
        elif call.state == "answered":
            reason = call.failure_reason or "far end not reached"
        call.end(reason)


class LostCalls(CallListener):
    """A node's click-to-dial calls end when callbridge loses sight of them, instead of staying
    "ringing" or "connected" for ever: a Hangup is the only other thing that ends a call, and a
    PBX that died (or restarted) sends none.

    - The link down for LOST_AFTER seconds: every unended call of the node ends, "PBX connection
      lost" (what happened to it can't be known from here).
    - The link back sooner: the node's call model asks Asterisk what is up (reconciled); a call
      with nothing left ended while we weren't looking ("ended while the PBX link was down"). A
      brief blip with the call still up changes nothing.
    """

    LOST_AFTER = 5.0

    def __init__(self, tracker: CallTracker, node: str, link: AmiLink):
        self.tracker, self.node, self.link = tracker, node, link
        self._timer: asyncio.Task | None = None

    def link_down(self) -> None:
        if self.tracker.unended(self.node) and self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._lose_after())

    async def _lose_after(self, online: bool = False) -> None:
        """online: end them even with the link up (the live channels couldn't be asked)."""
        try:
            await asyncio.sleep(self.LOST_AFTER)
            if online or not self.link.online:
                self._end(self.tracker.unended(self.node), "PBX connection lost")
        finally:
            if self._timer is asyncio.current_task():
                self._timer = None

    def reconciled(self, alive: set[str] | None) -> None:
        """After each (re)connect, what the call model found up on the node."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        followed = self.tracker.unended(self.node)
        if alive is None:  # can't tell: they end unless a later reconnect finds them alive
            if followed:
                event(log, "dialer.reconcile_failed", logging.WARNING, node=self.node)
                self._timer = asyncio.get_running_loop().create_task(self._lose_after(online=True))
            return
        self._end([c for c in followed if c.call_id not in alive],
                  "ended while the PBX link was down")

    def _end(self, calls: list[TrackedCall], reason: str) -> None:
        for call in calls:
            call.lose(reason)
        if calls:
            event(log, "dialer.calls_lost", logging.WARNING, node=self.node, calls=len(calls),
                  reason=reason)

    async def close(self) -> None:
        await cancel_and_wait(self._timer)
