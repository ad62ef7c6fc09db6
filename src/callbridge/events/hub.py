"""Fan-out of stored events to the connected stream clients, in memory.

A client is a bounded buffer: publishing never waits for a client (the AMI reader and the
journal writer call it), and a client whose buffer is full is marked overflowed, woken, and
closed by its stream handler with the id to resume after. The same encoded bytes go to every
client: an event is serialized once, not once per client.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from callbridge.events.models import matches


@dataclass(slots=True)
class StoredEvent:
    account_id: int
    id: int
    type: str
    extension: str | None
    body: str  # the event's JSON, as streamed and stored
    _frame: bytes | None = None

    def ws_frame(self) -> bytes:
        """The event as one unmasked, uncompressed WebSocket text frame (RFC 6455 5.2), built
        once and written as is to every client: 500 clients cost 500 writes, not 500 encodings."""
        if self._frame is None:
            payload = self.body.encode()
            n = len(payload)
            if n < 126:
                header = bytes((0x81, n))
            elif n < 1 << 16:
                header = bytes((0x81, 126)) + n.to_bytes(2, "big")
            else:
                header = bytes((0x81, 127)) + n.to_bytes(8, "big")
            self._frame = header + payload
        return self._frame


@dataclass(eq=False)
class Subscriber:
    account_id: int
    extensions: frozenset[str] | None
    types: list[str] | None
    limit: int
    buffer: deque = field(default_factory=deque)
    overflowed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_id: int = 0       # the newest event handed to the client
    # A writer that takes an event right now when it can (a WebSocket whose socket isn't
    # backed up): publishing then costs one socket write per client instead of a task wake-up
    # and a trip through the stream's coroutines. Set only once the client is live (after its
    # replay) and used only while nothing is buffered or being sent, so order is kept.
    sink: Callable[[StoredEvent], bool] | None = None
    busy: bool = False     # the stream is sending a batch taken from the buffer

    def wants(self, ev: StoredEvent) -> bool:
        return (matches(ev.type, self.types)
                and (self.extensions is None or ev.extension in self.extensions))

    def offer(self, ev: StoredEvent) -> None:
        if self.overflowed or not self.wants(ev) or ev.id <= self.last_id:
            return
        if self.sink is not None and not self.buffer and not self.busy and self.sink(ev):
            self.last_id = ev.id
            return
        if len(self.buffer) >= self.limit:
            self.overflowed = True
            self.buffer.clear()  # it will be closed: what it missed is in the journal
        else:
            self.buffer.append(ev)
        self.wake.set()

    async def next_batch(self, timeout: float) -> list[StoredEvent]:
        """What arrived, waiting up to timeout (then []: time for a heartbeat)."""
        if not self.buffer and not self.overflowed:
            self.wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self.wake.wait()
            except TimeoutError:
                return []
        batch = list(self.buffer)
        self.buffer.clear()
        return batch


class EventHub:
    def __init__(self) -> None:
        self._by_account: dict[int, set[Subscriber]] = {}

    def subscribe(self, account_id: int, extensions: frozenset[str] | None,
                  types: list[str] | None, limit: int) -> Subscriber:
        sub = Subscriber(account_id, extensions, types, limit)
        self._by_account.setdefault(account_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._by_account.get(sub.account_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_account[sub.account_id]

    def publish(self, events: Iterable[StoredEvent]) -> None:
        for ev in events:
            for sub in self._by_account.get(ev.account_id, ()):
                sub.offer(ev)

    def client_count(self) -> int:
        return sum(len(s) for s in self._by_account.values())
