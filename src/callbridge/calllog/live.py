"""Rows of parties that leave a call that goes on: within a second of their leaving, not at the
call's end.

Asterisk writes a call's CDRs when its first channel (the caller's) hangs up, so a party that
hands the call over (a blind or attended transfer) and leaves would get its row only when the
whole call ends, minutes later perhaps. This listener of the node's call model follows, per call,
the extension devices that answered it, and when one of them leaves while the call stays up for
LIVE_AFTER seconds (a plain hang-up ends the other channels within milliseconds; a transfer
doesn't), offers that party's row drafted from the channel events: INCOMING for an extension that
answered an outside caller, OUTGOING for the extension that called out once the far end answered.
The CDRs, when the call ends, confirm it (docs/call-log.md, "A party that leaves early").

Not drafted here: click-to-dial (its row is the far end's, callbridge.calllog.builder), calls
between extensions, parties that never answered (whether they missed the call is known only at
its end: someone else may still answer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from callbridge.ami.calls import CallListener, CallModel, Dial, Left, LiveCall
from callbridge.bounded import put_bounded
from callbridge.calllog.builder import RowDraft, dialled_number
from callbridge.calllog.cdr import epoch_ts

LIVE_AFTER = 1.0  # seconds a call must stay up after a party left for that party's row to be drafted
MAX_FOLLOWED = 10_000  # answered parties followed at once (bounded like the call model)


@dataclass(slots=True)
class _Party:
    extension: str
    direction: str            # INCOMING or OUTGOING
    number: str | None        # the outside party's
    name: str | None
    began: float | None       # when its leg began: the device rang, or the call started
    answered: float | None


class LeavingParties(CallListener):
    """Answered parties per call; drafts of those that left a call still up (due())."""

    def __init__(self, calls: CallModel, live_after: float = LIVE_AFTER):
        self.calls = calls
        self.live_after = live_after
        self._rang: dict[str, tuple[float | None, str]] = {}  # device uniqueid -> (rang at, dial string)
        self._answered: dict[str, dict[str, _Party]] = {}     # linkedid -> uniqueid -> party
        self._left: list[tuple[float, str, _Party, float | None]] = []  # (due, lid, party, left at)

    # ---- the call model's transitions ------------------------------------------------------

    def dial_started(self, dial: Dial) -> None:
        if dial.call.click_to_dial:
            return
        put_bounded(self._rang, dial.dest, (dial.stamp, dial.dial_string), MAX_FOLLOWED)

    def dial_ended(self, dial: Dial) -> None:
        rang, dial_string = self._rang.pop(dial.dest, (None, ""))
        call = dial.call
        if dial.status != "ANSWER" or call.click_to_dial or call.origin is None:
            return
        dest = dial.dest_channel
        party = None
        if call.origin.is_outside and dest is not None and dest.is_extension:
            party = _Party(dest.name, "INCOMING", call.caller or None, call.caller_name,
                           rang, dial.stamp)
            uid = dial.dest
        elif (call.origin.is_extension and dial.source == call.linkedid and dest is not None
              and dest.is_outside):
            number = dialled_number({"lastapp": "Dial",
                                     "lastdata": f"{dest.tech}/{dial_string}"}) or call.called
            party = _Party(call.origin.name, "OUTGOING", number or None, None, call.started,
                           dial.stamp)
            uid = call.linkedid
        if party is None:
            return
        if call.linkedid not in self._answered:
            put_bounded(self._answered, call.linkedid, {}, MAX_FOLLOWED)
        # the first answer stands (a re-dial doesn't reset it)
        self._answered[call.linkedid].setdefault(uid, party)

    def channel_left(self, left: Left) -> None:
        self._rang.pop(left.uniqueid, None)
        party = self._answered.get(left.call.linkedid, {}).pop(left.uniqueid, None)
        if party is not None and left.call.channels:  # others are still on the call
            self._left.append((time.monotonic() + self.live_after, left.call.linkedid, party,
                               left.stamp))

    def call_over(self, call: LiveCall, stamp: float | None, seen: bool) -> None:
        self._answered.pop(call.linkedid, None)

    def reconciled(self, alive: set[str] | None) -> None:
        """After a reconnect: calls that ended meanwhile are the CDRs' to build."""
        if alive is None:  # the snapshot failed: what is followed stays as it is
            return
        keep = alive
        self._answered = {lid: p for lid, p in self._answered.items() if lid in keep}
        self._left = [entry for entry in self._left if entry[1] in keep]

    # ---- what the call log asks -------------------------------------------------------------

    def due(self) -> list[tuple[str, RowDraft]]:
        """(linkedid, row draft) of the parties that left a call that is still up LIVE_AFTER
        later. A call that ended meanwhile is left to its CDRs (its rows come now anyway)."""
        if not self._left:
            return []
        now = time.monotonic()
        ready = [entry for entry in self._left if entry[0] <= now]
        if not ready:
            return []
        self._left = [entry for entry in self._left if entry[0] > now]
        return [(lid, _draft(lid, party, left)) for _, lid, party, left in ready
                if self.calls.is_live(lid)]


def _draft(linkedid: str, party: _Party, left: float | None) -> RowDraft:
    began, answered, ended = epoch_ts(party.began), epoch_ts(party.answered), epoch_ts(left)
    start = began or answered or ended or ""
    talked = int(left - party.answered) if left and party.answered else 0
    lasted = int(left - party.began) if left and party.began else talked
    return RowDraft(party.extension, party.direction, "ANSWERED", start, answered, ended,
                    max(0, lasted), max(0, talked), party.number, party.name, linkedid)
