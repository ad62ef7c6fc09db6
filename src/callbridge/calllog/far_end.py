"""When the far end of a click-to-dial answered and hung up: the call's talk time.

A click-to-dial's CDRs can't say it: the trunk leg's CDR answers when the device answered (its
Local;1 channel was up already), so its billsec includes the far end's ringing. The DialEnd
(ANSWER) of the ;1 leg dialling the number, and that dialled channel's Hangup, can; the call log
builds the row's answer time and billsec from them (callbridge.calllog.builder).

Subscribed to the node's call model on every instance, not only the node's reader: an instance
that takes the node over mid-call (the reader was killed or froze) must know when a call already
up was answered and will see its far end leave, or its row falls back to the CDR's talk time.
Every instance saves the same times (Asterisk's own, from the events); the store keeps the first.
"""

from __future__ import annotations

from callbridge.ami.calls import CallListener, Dial, Left, LiveCall
from callbridge.bounded import put_bounded
from callbridge.calllog.cdr import epoch_ms_text

MAX_RECENT_DIALS = 10_000  # click-to-dial calls followed at once (bounded like the call model)


class FarEnds(CallListener):
    """Answer and hang-up times of click-to-dial far ends, until the call log saves them."""

    def __init__(self) -> None:
        self._dialed: dict[str, None] = {}       # click-to-dial linkedids, oldest first
        self._far_uid: dict[str, str] = {}       # linkedid -> its far end's channel, while up
        self._times: dict[str, list] = {}        # linkedid -> [answered_at, ended_at] to save

    def remember(self, linkedid: str) -> None:
        """A click-to-dial call (the dialer's, or one another instance sent)."""
        put_bounded(self._dialed, linkedid, None, MAX_RECENT_DIALS)

    def take(self) -> dict[str, list]:
        """The times gathered since the last take, to save."""
        times, self._times = self._times, {}
        return times

    def put_back(self, times: dict[str, list]) -> None:
        """Times a failed save didn't write: the next take has them (newer ones win)."""
        for lid, pair in times.items():
            self._times.setdefault(lid, pair)

    # ---- the call model's transitions --------------------------------------------------------

    def call_started(self, call: LiveCall) -> None:
        if call.click_to_dial:  # its Originate's first channel is Local/<ext>@<ring context>
            self.remember(call.linkedid)

    def dial_ended(self, dial: Dial) -> None:
        lid = dial.call.linkedid
        if dial.status == "ANSWER" and dial.source == lid and lid in self._dialed:
            # the ;1 leg of a click-to-dial dialled the number: this is the far end answering
            self._far_uid[lid] = dial.dest
            self._times.setdefault(lid, [None, None])[0] = epoch_ms_text(dial.stamp)

    def channel_left(self, left: Left) -> None:
        lid = left.call.linkedid
        if self._far_uid.get(lid) == left.uniqueid:  # the far end left: its times are complete
            self._times.setdefault(lid, [None, None])[1] = epoch_ms_text(left.stamp)
            del self._far_uid[lid]

    def call_over(self, call: LiveCall, stamp: float | None, seen: bool) -> None:
        self._far_uid.pop(call.linkedid, None)  # ended unseen: its far end is followed no more

    def reconciled(self, alive: set[str] | None) -> None:
        """After a reconnect: far ends of calls that ended meanwhile are followed no more."""
        if alive is not None:
            self._far_uid = {lid: uid for lid, uid in self._far_uid.items() if lid in alive}
