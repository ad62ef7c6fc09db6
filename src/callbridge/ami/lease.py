"""Which instance reads an Asterisk node's calls into the call log and the event journal.

Every instance keeps an AMI connection to every node (any of them may be asked to dial), but
one at a time, the lease holder, turns a node's events into call-log rows and call events:
two would store every event twice. The lease is a row in PostgreSQL (ami_leases) renewed every
RENEW_SECONDS until TTL_SECONDS past the database's clock; the instance that stops renewing
(killed, frozen, cut off from the database) loses it, and another takes it within
TTL_SECONDS + RENEW_SECONDS, reads what the node's Master.csv holds that the call log doesn't
yet (on_acquired), and goes on from the live events.

The holder trusts its lease only until TTL_SECONDS - MARGIN after its last successful renewal
by its own monotonic clock: a process frozen past that stops ingesting the moment it runs
again, before it could renew, so two instances never both believe they hold it. (If one did
for a moment, nothing doubles: CDRs and rows are unique per call and party, and a row stored
twice is replaced, not added.)

With SQLite there is one process: SoleLease always holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from callbridge.aio import cancel_and_wait
from callbridge.db.coordination import LeaseRows
from callbridge.logs import event

log = logging.getLogger("callbridge.ami")
TTL_SECONDS = 3.0
RENEW_SECONDS = 1.0
MARGIN = 0.5  # the holder stops trusting its lease this long before the database would


def while_held(lease: "SoleLease | NodeLease", handler: Callable[[dict], None]
               ) -> Callable[[dict], None]:
    """An AMI event handler that runs only while this instance holds the node's lease."""
    def gated(ev: dict) -> None:
        if lease.held:
            handler(ev)
    gated.__name__ = getattr(handler, "__name__", "handler")
    return gated


class SoleLease:
    """One process: the node's events are always this process's to read."""

    held = True

    def __init__(self, node: str):
        self.node = node
        self.holder = "this process"

    def on_acquired(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        pass  # held from the start: the link's on_connect catch-up covers it

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def status(self) -> dict:
        return {"holder": "this process", "held": True}


class NodeLease:
    """The node's lease, shared with the other instances through ami_leases."""

    def __init__(self, rows: LeaseRows, node: str, instance: str | None = None):
        self.rows = rows
        self.node = node
        self.instance = instance or uuid.uuid4().hex[:12]
        self._valid_until = 0.0  # monotonic
        self._acquired: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._task: asyncio.Task | None = None
        self.holder: str | None = None  # who holds it, as last read
        self.takeovers = 0

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def on_acquired(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run each time this instance takes the lease (it then catches up on the node)."""
        self._acquired.append(callback)

    async def renew(self) -> bool:
        """Takes or renews the lease; True while this instance holds it."""
        asked = time.monotonic()
        taken = await self.rows.take_or_renew(self.node, self.instance, TTL_SECONDS)
        was = self.held
        if not taken:
            self._valid_until = 0.0
            self.holder = await self.rows.holder(self.node)
            if was:
                event(log, "ami.lease_lost", logging.WARNING, node=self.node, holder=self.holder)
            return False
        self._valid_until = asked + TTL_SECONDS - MARGIN
        self.holder = self.instance
        if not was:
            self.takeovers += 1
            event(log, "ami.lease_taken", node=self.node, instance=self.instance)
            for callback in self._acquired:
                asyncio.get_running_loop().create_task(callback(), name="lease-acquired")
        return True

    async def _try(self) -> None:
        try:
            await self.renew()
        except Exception as exc:  # the database unreachable: the lease runs out by itself
            event(log, "ami.lease_renew_failed", logging.WARNING, node=self.node,
                  error=type(exc).__name__)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            await self._try()

    async def start(self) -> None:
        """Asks for the lease once now, so an instance that gets it holds it before its AMI
        link's first event (else that event would be dropped as the holder's to handle), then
        keeps renewing (or asking) every RENEW_SECONDS in the background."""
        await self._try()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"lease-{self.node}")

    async def close(self) -> None:
        """Stops renewing and gives the lease up, so another instance needn't wait it out."""
        await cancel_and_wait(self._task)
        self._task = None
        if self.held:
            self._valid_until = 0.0
            try:
                await self.rows.give_up(self.node, self.instance)
            except Exception:  # noqa: BLE001 - it runs out by itself anyway
                pass

    def status(self) -> dict:
        return {"holder": "this instance" if self.held else (self.holder or "nobody"),
                "held": self.held, "instance": self.instance}
