"""Which devices of an extension can ring, known before a click instead of asked on every click.

Asterisk answers PJSIP_DIAL_CONTACTS(<extension>) with the dial string of the extension's
reachable contacts (registered, and not marked Unreachable by qualify). The dialer needs it only
to refuse a click with 409 "no devices" before anything rings; the devices a call then rings are
chosen by Asterisk itself at dial time (the ring context dials PJSIP_DIAL_CONTACTS again), so a
device that left a moment ago is never rung, whatever this cache holds.

The answer is kept per extension until Asterisk says it may have changed: a ContactStatus event
for the extension's AOR (a device registered, unregistered, expired, turned reachable or
unreachable), a reconnect of the AMI link (events may have been missed), or 30 s. So a click costs no AMI
round trip, except the first after such a change (and after a connect, every known extension is
asked at once: prewarm). Clicks that find no answer at the same time share
one Getvar.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from callbridge.ami.link import AmiError, AmiLink
from callbridge.logs import event

log = logging.getLogger("callbridge.dialer")
PREWARM_CONCURRENCY = 8
# An answer is asked again once this old, notice or not: the safety net for a manager.conf that
# still filters ContactStatus out (asterisk-conf/ no longer does), about two qualify intervals.
MAX_AGE_SECONDS = 30.0


class ReachableDevices:
    def __init__(self, link: AmiLink):
        self.link = link
        # extension -> (the link's connect count when asked, when, the answer): an answer from
        # an earlier connection is never used (events were missed while the link was down)
        self._known: dict[str, tuple[int, float, str]] = {}
        self._asking: dict[str, asyncio.Future[str]] = {}
        # Bumped by every change notice: an answer asked for before a notice is not kept.
        self._changes: dict[str, int] = {}

    def on_contact_status(self, ev: dict) -> None:
        """AMI ContactStatus: the AOR (= extension) it names changed."""
        aor = ev.get("AOR") or ev.get("Aor") or ev.get("EndpointName")
        if aor:
            self._known.pop(aor, None)
            self._changes[aor] = self._changes.get(aor, 0) + 1

    async def contacts(self, extension: str) -> str:
        """The extension's dial string ('' = no device can ring). AmiError when Asterisk can't
        be asked and nothing current is known."""
        known = self._known.get(extension)
        if (known is not None and known[0] == self.link.status().connects
                and time.monotonic() - known[1] < MAX_AGE_SECONDS):
            return known[2]
        asking = self._asking.get(extension)
        if asking is None:
            asking = asyncio.get_running_loop().create_task(self._ask(extension))
            self._asking[extension] = asking
            asking.add_done_callback(lambda _: self._asking.pop(extension, None))
        return await asyncio.shield(asking)

    async def _ask(self, extension: str) -> str:
        connects, changes = self.link.status().connects, self._changes.get(extension, 0)
        asked_at = time.monotonic()
        value = await self.link.getvar(f"PJSIP_DIAL_CONTACTS({extension})")
        if (connects, changes) == (self.link.status().connects, self._changes.get(extension, 0)):
            self._known[extension] = (connects, asked_at, value)  # no notice came meanwhile
        return value

    async def prewarm(self, extensions: Iterable[str]) -> None:
        """Asks for every extension now (after each connect), so first clicks need no Getvar."""
        gate = asyncio.Semaphore(PREWARM_CONCURRENCY)

        async def one(extension: str) -> None:
            async with gate:
                try:
                    await self.contacts(extension)
                except AmiError as exc:  # the click will ask again
                    event(log, "dialer.prewarm_failed", logging.WARNING, extension=extension,
                          error=str(exc))

        await asyncio.gather(*(one(e) for e in extensions))
