"""The durable per-account journal of call events: every event is stored before any client
sees it, so what a client saw is what a reconnecting client replays, also after a restart.

Producers (the AMI handlers of callbridge.events.calls, the dialer's progress) call emit(),
which only queues: a writer task stores what queued in one transaction (group commit: a burst
is one fsync, not one per event) and then hands the stored events to the hub. The call log
stores its call.ended events inside its own row-writing transaction through append_in(), so a
row and its event exist together or not at all. Ids are assigned inside the transaction that
stores them, from a per-account counter in the database: never reused, also after pruning.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from callbridge.aio import cancel_and_wait
from callbridge.db import Db, Tx
from callbridge.events.fanin import CHANNEL, SharedFanIn, notice
from callbridge.events.hub import EventHub, StoredEvent
from callbridge.events.models import CATALOGUE
from callbridge.events.store import EventStore
from callbridge.logs import background_failure, event
from callbridge.timeutil import utc_now_iso

log = logging.getLogger("callbridge.events")
PRUNE_EVERY_SECONDS = 300.0
PRUNE_BATCH = 5000
REPLAY_BATCH = 500
RETRY_SECONDS = 1.0


@dataclass(slots=True)
class Draft:
    """An event before it has an id."""
    account_id: int
    type: str
    extension: str | None
    time: str
    data: dict


class EventsExpired(Exception):
    """The client resumes from before what retention kept: it missed events."""

    def __init__(self, after: int, pruned_through: int):
        super().__init__(f"events after {after} up to {pruned_through} are past retention")
        self.after, self.pruned_through = after, pruned_through


def draft(account_id: int, type_: str, data: BaseModel | dict, *, extension: str | None,
          at: str | None = None) -> Draft:
    """An event to store. Its type must be in the catalogue (events.models.CATALOGUE), and data
    that type's model: no event leaves callbridge without a schema saying what it holds."""
    kind = CATALOGUE.get(type_)
    if kind is None:
        raise ValueError(f"{type_!r} is not in the event catalogue")
    if isinstance(data, BaseModel) and not isinstance(data, kind.model):
        raise TypeError(f"{type_} carries {kind.model.__name__}, not {type(data).__name__}")
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return Draft(account_id, type_, extension, at or utc_now_iso(), payload)


# A callable run inside the storing transaction with the events just stored (the webhook outbox
# enqueues its deliveries this way: an event and its deliveries commit together).
InTransaction = Callable[[Tx, list[StoredEvent]], Awaitable[None]]
# Builds the fan-in from the journal's store and hub; None where no other instance stores
# events (callbridge.variants chooses).
FanInFactory = Callable[[EventStore, EventHub], SharedFanIn | None]


class EventJournal:
    def __init__(self, db: Db, hub: EventHub, retention_seconds: float,
                 fanin: FanInFactory | None = None):
        self.db = db
        self.hub = hub
        self.store = EventStore(db)
        self.retention_seconds = retention_seconds
        self.in_transaction: list[InTransaction] = []
        # several instances (PostgreSQL): what any of them stores reaches every one's clients
        self.fanin = fanin(self.store, hub) if fanin is not None else None
        self._pending: list[Draft] = []
        # drafts whose COMMIT failed without saying whether it happened, and what they were
        # stored as if it did (flush settles them first)
        self._unsure: tuple[list[Draft], list[StoredEvent]] | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.stored = 0

    # ---- writing -------------------------------------------------------------------------

    def emit(self, d: Draft) -> None:
        """Queues an event (synchronous: AMI handlers call it); stored and published within a
        loop turn or two."""
        self._pending.append(d)
        self._wake.set()

    def publish(self, account_id: int, type_: str, data: BaseModel, *,
                extension: str | None) -> None:
        """Queues an event of a catalogued type, stamped now: what another room's notifier
        calls (the dialer's, for dial.progress)."""
        self.emit(draft(account_id, type_, data, extension=extension))

    async def append_in(self, tx: Tx, drafts: list[Draft]) -> list[StoredEvent]:
        """Stores drafts inside the caller's transaction; publish the result after it commits."""
        if not drafts:
            return []
        counts: dict[int, int] = {}
        for d in drafts:
            counts[d.account_id] = counts.get(d.account_id, 0) + 1
        next_id = {a: await self.store.reserve_ids(tx, a, n) for a, n in counts.items()}
        now = time.time()
        stored, rows = [], []
        for d in drafts:
            eid = next_id[d.account_id]
            next_id[d.account_id] = eid + 1
            body = json.dumps({"id": eid, "type": d.type, "time": d.time, "data": d.data},
                              separators=(",", ":"), ensure_ascii=False)
            stored.append(StoredEvent(d.account_id, eid, d.type, d.extension, body))
            rows.append((d.account_id, eid, d.type, d.extension, now, body))
        await self.store.insert(tx, rows)
        for hook in self.in_transaction:
            await hook(tx, stored)
        if self.fanin is not None:  # the other instances hear of them at the commit
            await tx.execute("SELECT pg_notify(?, ?)", (CHANNEL, notice(self.fanin.instance,
                                                                        stored)))
        return stored

    def published(self, events: list[StoredEvent]) -> None:
        """After the commit that stored them: to the live clients, in id order."""
        self.stored += len(events)
        if self.fanin is not None:
            self.fanin.local(events)
        else:
            self.hub.publish(events)

    async def flush(self) -> None:
        if self._unsure is not None:
            await self._settle_unsure()
        drafts, self._pending = self._pending, []
        if not drafts:
            return
        stored: list[StoredEvent] = []
        try:
            async with self.db.loop_transaction() as tx:
                stored = await self.append_in(tx, drafts)
        except BaseException:
            if stored:
                # The COMMIT itself failed: the server may have committed and died before it
                # answered (PostgreSQL restarting). Storing the drafts again could store them
                # twice, under new ids; the next pass first looks whether they are there.
                self._unsure = (drafts, stored)
            else:
                self._pending[:0] = drafts  # nothing was stored: the next pass tries again
            raise
        self.published(stored)

    async def _settle_unsure(self) -> None:
        """After a COMMIT whose answer was lost: publishes the events when they were stored,
        queues the drafts again when they were not. Raises (and stays unsure) while the
        database is still away."""
        assert self._unsure is not None
        drafts, stored = self._unsure
        first = stored[0]
        body = await self.store.body_of(first.account_id, first.id)
        self._unsure = None
        if body == first.body:  # its id, time and data: these drafts, not another's
            event(log, "events.commit_confirmed", logging.WARNING, events=len(stored),
                  reason="the commit's answer was lost; they were stored")
            self.published(stored)
        else:
            self._pending[:0] = drafts

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                background_failure(log, "events.store_failed", exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    async def _prune_loop(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception as exc:
                background_failure(log, "events.prune_failed", exc)
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    async def prune(self, now: float | None = None) -> int:
        """Deletes events past retention, a bounded transaction at a time."""
        before = (time.time() if now is None else now) - self.retention_seconds
        total = 0
        while True:
            async with self.db.loop_transaction() as tx:
                n = await self.store.prune(tx, before, PRUNE_BATCH)
            total += n
            if n < PRUNE_BATCH:
                break
        if total:
            event(log, "events.pruned", events=total)
        return total

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.fanin is not None:
            self.fanin.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._write_loop(), name="events-writer"),
                       loop.create_task(self._prune_loop(), name="events-prune")]

    async def close(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        await self.flush()
        if self.fanin is not None:
            await self.fanin.close()

    # ---- reading -------------------------------------------------------------------------

    async def replay(self, account_id: int, after: int) -> AsyncIterator[list[StoredEvent]]:
        """The stored events after `after`, in batches. Raises EventsExpired first when
        retention deleted some of them."""
        last, pruned_through = await self.store.counters(account_id)
        if after < pruned_through:
            raise EventsExpired(after, pruned_through)
        while after < last:
            rows = await self.store.after(account_id, after, REPLAY_BATCH)
            if not rows:
                break
            yield [StoredEvent(account_id, r["id"], r["type"], r["extension"], r["body"])
                   for r in rows]
            after = rows[-1]["id"]

    async def latest_progress(self, account_id: int, call_id: str) -> dict | None:
        """The newest dial.progress of a click-to-dial, as stored (whichever instance sent it)."""
        body = await self.store.latest_of_call(account_id, "dial.progress", call_id)
        return json.loads(body)["data"] if body else None

    async def last_id(self, account_id: int) -> int:
        return (await self.store.counters(account_id))[0]
