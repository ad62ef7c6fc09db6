"""Following an account's events: replay from the journal after the client's last id, then
live, with the same filters, without a gap or a duplicate.

The client subscribes to the hub *before* reading the journal, so an event stored meanwhile is
either read back or buffered; ids then drop duplicates. A slow client overflows its bounded
buffer and is told where to resume; an idle one gets heartbeats.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from callbridge.accounts.models import Account
from callbridge.errors import InvalidInput
from callbridge.events.hub import EventHub, StoredEvent
from callbridge.events.journal import EventJournal, EventsExpired
from callbridge.events.models import StreamQuery


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class Problem:
    """An error told to the client as an event of type "error" (then, if final, it is closed)."""
    error: str
    message: str
    final: bool
    after: int | None = None  # where to resume


class EventsService:
    def __init__(self, journal: EventJournal, hub: EventHub, heartbeat: float, buffer: int,
                 key_check: float = 5.0):
        self.key_check = key_check  # seconds between checks that a stream's key is still valid
        self.journal = journal
        self.hub = hub
        self.heartbeat = heartbeat
        self.buffer = buffer

    async def check_resume(self, account: Account, after: int | None) -> None:
        """A resume point ahead of the journal (a different installation's id?): 400, before
        the stream opens, rather than silently waiting for ids that were never issued."""
        if after is not None:
            last = await self.journal.last_id(account.id)
            if after > last:
                raise InvalidInput(f"after={after} is ahead of this account's last event ({last})",
                                   field="after", error="Invalid query parameter")

    async def follow(self, account: Account, q: StreamQuery,
                     sink: Callable[[StoredEvent], bool] | None = None
                     ) -> AsyncGenerator[StoredEvent | Heartbeat | Problem, None]:
        """sink: a writer that can take live events directly (Subscriber.sink); events it took
        are not yielded."""
        sub = self.hub.subscribe(account.id, q.extension_set(), q.type_list(), self.buffer)
        last = q.after if q.after is not None else await self.journal.last_id(account.id)
        try:
            # Replay from `after`; when retention took part of it, say so and replay from the
            # oldest event kept (a prune racing this loop only sends it round once more).
            resume = q.after
            while resume is not None:
                start, resume = resume, None
                try:
                    async for batch in self.journal.replay(account.id, start):
                        for ev in batch:
                            if sub.wants(ev):
                                yield ev
                        last = batch[-1].id
                except EventsExpired as exc:
                    yield Problem("events_expired",
                                  f"events {exc.after + 1} to {exc.pruned_through} are past the"
                                  " journal's retention: re-read the call log for that time;"
                                  " the stream goes on with the events still kept",
                                  final=False)
                    resume = exc.pruned_through
            # live: the buffer may hold what was stored meanwhile (ids drop what replay sent)
            sub.last_id = last
            sub.sink = sink
            while True:
                batch = await sub.next_batch(self.heartbeat)
                if sub.overflowed:
                    yield Problem("too_slow",
                                  f"more than {self.buffer} events waited for this client:"
                                  f" reconnect with after={sub.last_id}", final=True,
                                  after=sub.last_id)
                    return
                if not batch:
                    yield Heartbeat()
                sub.busy = True  # while these are sent, newer ones queue behind them
                try:
                    for ev in batch:
                        if ev.id > sub.last_id:
                            sub.last_id = ev.id
                            yield ev
                finally:
                    sub.busy = False
        finally:
            self.hub.unsubscribe(sub)
