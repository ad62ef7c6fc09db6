"""Events stored by any instance, to the stream clients of every instance (PostgreSQL).

The storing transaction also sends a NOTIFY naming, per account, the ids it stored (PostgreSQL
delivers it at the commit, and only then). Every instance LISTENs on a connection of its own and
hands the hub what it has not published yet, read back from the journal table: a notification
is a hint, the table is the truth. Per account the hub gets every id, once, in order:

- ids are committed in id order (the account's counter row stays locked until the commit), so
  "after the last id published here" never skips one that commits later;
- a notification that was missed (the listening connection dropped) leaves a gap the next one
  fills from the table; after a reconnect every account published so far is read up to date.

Events this instance stored go through the same queue, so they can't overtake an earlier
event of another instance whose notification is still on its way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from callbridge.aio import cancel_and_wait
from callbridge.db.listener import PgListener
from callbridge.events.hub import EventHub, StoredEvent
from callbridge.events.store import EventStore

log = logging.getLogger("callbridge.events")
CHANNEL = "callbridge_events"
READ_BATCH = 500


def notice(instance: str, events: Iterable[StoredEvent]) -> str:
    """The NOTIFY payload: 'instance account:first:last …'."""
    spans: dict[int, list[int]] = {}
    for e in events:
        span = spans.setdefault(e.account_id, [e.id, e.id])
        span[0], span[1] = min(span[0], e.id), max(span[1], e.id)
    return instance + " " + " ".join(f"{a}:{f}:{t}" for a, (f, t) in spans.items())


class SharedFanIn:
    def __init__(self, listener: PgListener, store: EventStore, hub: EventHub):
        self.store = store
        self.hub = hub
        self.instance = uuid.uuid4().hex[:12]  # this process, in the notifications it sends
        self.seen: dict[int, int] = {}  # account -> the last id handed to the hub here
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        listener.on(CHANNEL, self._notified)
        listener.on_reconnect(self._resync)

    # ---- what comes in ---------------------------------------------------------------------

    def local(self, events: list[StoredEvent]) -> None:
        """Events this instance just committed, in id order."""
        by_account: dict[int, list[StoredEvent]] = {}
        for e in events:
            by_account.setdefault(e.account_id, []).append(e)
        for account_id, stored in by_account.items():
            self._queue.put_nowait((account_id, stored[0].id, stored[-1].id, stored))

    def _notified(self, payload: str) -> None:
        instance, _, spans = payload.partition(" ")
        if instance == self.instance:
            return  # ours: already queued by local()
        for span in spans.split():
            account, first, last = (int(x) for x in span.split(":"))
            self._queue.put_nowait((account, first, last, None))

    async def _resync(self) -> None:
        """After the listening connection came back: notifications may have gone by."""
        for account_id in list(self.seen):
            last, _ = await self.store.counters(account_id)
            self._queue.put_nowait((account_id, last, last, None))

    # ---- to the hub, in order --------------------------------------------------------------

    async def _publish_loop(self) -> None:
        while True:
            account_id, first, last, stored = await self._queue.get()
            try:
                await self._publish(account_id, first, last, stored)
            except Exception:  # the table couldn't be read: the next notice fills the gap
                log.exception("events.fanin_failed")

    async def _publish(self, account_id: int, first: int, last: int,
                       stored: list[StoredEvent] | None) -> None:
        seen = self.seen.get(account_id, first - 1)
        if last <= seen:
            return
        if stored is not None and seen == first - 1:
            self.hub.publish(stored)
            self.seen[account_id] = last
        else:  # read what this instance hasn't published: the notified span and any gap before
            await self._read_through(account_id, seen, last)

    async def _read_through(self, account_id: int, after: int, last: int) -> None:
        while after < last:
            rows = await self.store.after(account_id, after, READ_BATCH)
            if not rows:
                break
            self.hub.publish([StoredEvent(account_id, r["id"], r["type"], r["extension"],
                                          r["body"]) for r in rows if r["id"] <= last])
            after = min(rows[-1]["id"], last)
            self.seen[account_id] = after

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._publish_loop(),
                                                            name="events-fanin")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
