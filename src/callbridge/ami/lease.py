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

Nodes are spread over the instances (Spread): each instance reads at most its fair share,
ceil(nodes / live instances), counting the live ones through ami_instances (renewed with the
leases). An instance over its share (more instances started) gives up, once per RENEW_SECONDS,
the leases over its share; an instance at its share leaves free leases to the others.
The new reader catches up from the node's Master.csv as on any takeover, so a hand-over loses
and doubles nothing.

With SQLite there is one process: SoleLease always holds.
"""

from __future__ import annotations

import asyncio
import logging
import math
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


class Spread:
    """This instance's share of the nodes: ceil(nodes / live instances), the live ones counted
    in ami_instances (asked at most once per RENEW_SECONDS, by whichever lease renews first)."""

    def __init__(self, rows: LeaseRows, instance: str | None = None,
                 prefer: frozenset[str] = frozenset()):
        self.rows = rows
        self.instance = instance or uuid.uuid4().hex[:12]
        self.leases: list[NodeLease] = []
        self.live = 1
        self.prefer = prefer  # nodes this instance reads whenever it runs (CALLBRIDGE_PREFER_NODES)
        self.others_prefer: set[str] = set()  # nodes other live instances prefer
        self._beat_at = -RENEW_SECONDS
        self._handed_over_at = -RENEW_SECONDS
        self._giving: set[str] = set()  # the nodes this round gives up (hand_over)

    @property
    def share(self) -> int:
        return math.ceil(len(self.leases) / max(1, self.live))

    @property
    def held(self) -> int:
        return sum(1 for lease in self.leases if lease.held)

    async def beat(self) -> None:
        now = time.monotonic()
        if now - self._beat_at >= RENEW_SECONDS * 0.9:
            self._beat_at = now
            self.live, self.others_prefer = await self.rows.beat(
                self.instance, TTL_SECONDS, ",".join(sorted(self.prefer)))

    def _left_to_others(self, node: str) -> bool:
        """Another live instance prefers the node, and this one doesn't."""
        return node in self.others_prefer and node not in self.prefer

    def may_take(self, node: str) -> bool:
        """Whether this instance should ask for the node's lease now: a node it prefers always;
        one another instance prefers never; else while it has room for one more."""
        if node in self.prefer:
            return True
        return not self._left_to_others(node) and self.held < self.share

    def hand_over(self, lease: "NodeLease") -> bool:
        """Whether `lease` is to be given up now. Once per round the instance picks what it
        gives: the nodes another instance prefers, and while it is over its share, as many of
        its last nodes by (not preferred first, name) as bring it down to the share (never a
        node it prefers). Every lease then asks whether it is among them."""
        now = time.monotonic()
        if now - self._handed_over_at >= RENEW_SECONDS:
            self._handed_over_at = now
            held = sorted((x for x in self.leases if x.held),
                          key=lambda x: (x.node not in self.prefer, x.node))
            owed = {x.node for x in held if self._left_to_others(x.node)}
            kept = [x for x in held if x.node not in owed]
            excess = [x.node for x in kept[self.share:] if x.node not in self.prefer]
            self._giving = owed | set(excess)
        if lease.node in self._giving:
            self._giving.discard(lease.node)
            return True
        return False

    async def leave(self) -> None:
        await self.rows.leave(self.instance)


class NodeLease:
    """The node's lease, shared with the other instances through ami_leases."""

    def __init__(self, rows: LeaseRows, node: str, instance: str | None = None,
                 spread: Spread | None = None):
        self.rows = rows
        self.node = node
        self.spread = spread
        if spread is not None:
            spread.leases.append(self)
            instance = spread.instance
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
        was = self.held
        if self.spread is not None:
            await self.spread.beat()
            if was and self.spread.hand_over(self):
                await self._hand_over()
                return False
            if not was and not self.spread.may_take(self.node):
                # at its share, or another instance prefers it: left to the others
                self.holder = await self.rows.holder(self.node)
                return False
        asked = time.monotonic()
        taken = await self.rows.take_or_renew(self.node, self.instance, TTL_SECONDS)
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

    async def _hand_over(self) -> None:
        """Gives the lease up for an instance with room (it takes it at its next renewal)."""
        self._valid_until = 0.0
        await self.rows.give_up(self.node, self.instance)
        self.holder = None
        assert self.spread is not None
        event(log, "ami.lease_handed_over", node=self.node, instance=self.instance,
              share=self.spread.share, live=self.spread.live)

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
        try:
            if self.held:
                self._valid_until = 0.0
                await self.rows.give_up(self.node, self.instance)
            if self.spread is not None and self.spread.leases[-1] is self:
                await self.spread.leave()  # the others' share grows at once
        except Exception:  # noqa: BLE001 - both run out by themselves anyway
            pass

    def status(self) -> dict:
        out = {"holder": "this instance" if self.held else (self.holder or "nobody"),
               "held": self.held, "instance": self.instance}
        if self.spread is not None:
            out.update(share=self.spread.share, live_instances=self.spread.live)
        return out
