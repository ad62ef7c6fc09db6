"""Which extensions are ringing or on a call, folded from one node's call model (a CallListener:
the model already folds the channel events once for every room).

An extension rings while a DialBegin to one of its devices (or its mobile) has no DialEnd; it
is on a call from a DialEnd ANSWER until that channel hangs up, and while a call it started
(its device's channel is the call's first) is up. After a reconnect, calls that ended meanwhile
are dropped (the model says call_over); a call that began while the link was down shows once its
next event arrives."""

from __future__ import annotations

from callbridge.ami.calls import CallListener, Dial, Left, LiveCall

RINGING, BUSY = "ringing", "busy"


class PresenceBoard(CallListener):
    def __init__(self) -> None:
        # channel uniqueid -> (extension, what it is doing, its call's linkedid)
        self._channels: dict[str, tuple[str, str, str]] = {}

    def state_of(self, extension: str) -> str | None:
        """BUSY, RINGING, or None (neither: idle, as far as calls go)."""
        doing = {what for ext, what, _ in self._channels.values() if ext == extension}
        return BUSY if BUSY in doing else RINGING if RINGING in doing else None

    def states(self) -> dict[str, str]:
        """Every extension that is ringing or busy now."""
        out: dict[str, str] = {}
        for ext, what, _ in self._channels.values():
            if out.get(ext) != BUSY:
                out[ext] = what
        return out

    def call_started(self, call: LiveCall) -> None:
        if call.origin is not None and call.origin.is_extension:
            self._channels[call.linkedid] = (call.origin.name, BUSY, call.linkedid)

    def dial_started(self, dial: Dial) -> None:
        if dial.extension:
            self._channels[dial.dest] = (dial.extension, RINGING, dial.call.linkedid)

    def dial_ended(self, dial: Dial) -> None:
        if not dial.extension:
            return
        if dial.status == "ANSWER":
            self._channels[dial.dest] = (dial.extension, BUSY, dial.call.linkedid)
        else:
            self._channels.pop(dial.dest, None)

    def channel_left(self, left: Left) -> None:
        self._channels.pop(left.uniqueid, None)

    def call_over(self, call: LiveCall, stamp: float | None, seen: bool) -> None:
        lid = call.linkedid
        for uid in [u for u, (_, _, of) in self._channels.items() if of == lid]:
            del self._channels[uid]

    def reconciled(self, alive: set[str] | None) -> None:
        if alive is None:  # no snapshot: nothing known is sure any more
            self._channels.clear()
            return
        for uid in [u for u, (_, _, of) in self._channels.items() if of not in alive]:
            del self._channels[uid]
