"""Fixed-window request counting per client (an API key's id, or an IP when no valid key).

A fixed window is what the seed describes ("1000 requests per 15-minute window") and what the
RateLimit-* headers express: a count that resets at a known instant. Memory stays bounded: windows
that ended are dropped whenever the table grows past a threshold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from callbridge.aio import cancel_and_wait
from callbridge.db.coordination import RateWindowRows
from callbridge.logs import event

log = logging.getLogger("callbridge.http")
CLOSE_SECONDS = 5.0  # at shutdown, the last sync waits this long at most


@dataclass(slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the current window ends


def _window(now: float, seconds: int) -> tuple[int, int]:
    """(the index of the window `now` is in, whole seconds until it ends)."""
    index = int(now // seconds)
    return index, max(1, int((index + 1) * seconds - now + 0.999))


def _verdict(limit: int, count: int, reset_after: int) -> Verdict:
    return Verdict(count <= limit, limit, max(0, limit - count), reset_after)


class FixedWindowLimiter:
    def __init__(self, limit: int, window_seconds: int, clock=time.time, prune_at: int = 50_000):
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._prune_at = prune_at
        self._counts: dict[str, tuple[int, int]] = {}  # client -> (window index, count)
        self.rejected = 0  # requests refused with a 429, for the metrics

    def hit(self, client: str) -> Verdict:
        index, reset_after = _window(self._clock(), self.window)
        window, count = self._counts.get(client, (index, 0))
        if window != index:
            count = 0
        count += 1
        if len(self._counts) >= self._prune_at and client not in self._counts:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
        self._counts[client] = (index, count)
        if count > self.limit:
            self.rejected += 1
        return _verdict(self.limit, count, reset_after)

    async def admit(self, client: str) -> Verdict:
        return self.hit(client)

    async def close(self) -> None:
        pass  # nothing kept anywhere else


@dataclass(slots=True)
class _Seen:
    """One client's current window as this instance knows it."""
    index: int
    shared: int = 0  # the window's count in the database, as last read (our flushed hits too)
    pending: int = 0  # hits admitted here and not yet added to the database

    @property
    def synced(self) -> bool:
        """shared was read in this window (a read count includes this instance's hit)."""
        return self.shared > 0


class SharedWindowLimiter:
    """The same fixed windows, counted in PostgreSQL: several instances behind a load balancer
    share one window per client, not one each, in an UNLOGGED table (a database crash forgets
    the current windows, which only relaxes them).

    A request is counted in the database at once (one upsert, ~0.2 ms on a LAN) unless its
    client is far from its limit: then this instance admits it from memory and adds its hits to
    the window every SYNC_SECONDS, one upsert for every client at once (what Kong's rate limit
    calls sync_rate). "Far" is both: below the limit by more than a tenth of it (HEADROOM), and
    fewer than LOCAL_SHARE of the limit admitted here since the last sync. So near its limit a
    client is counted exactly, a limit under 100 is always counted at once, and a burst spread
    over N instances can overshoot by at most (N-1) x 1% of the limit before every instance
    sees the window full. A client over its limit is refused from memory until its window ends
    (the count only grows). With the database unreachable a request is let through: the limit
    is not worth an outage, and the request will meet the same database a moment later."""

    SYNC_SECONDS = 0.1
    HEADROOM = 0.1  # of the limit: closer than this, every request is counted at once
    LOCAL_SHARE = 0.01  # of the limit: admitted here between syncs, at most
    PRUNE_EVERY = 500  # syncs between deletions of ended windows
    REMEMBERED_MAX = 10_000  # clients remembered, at most

    def __init__(self, windows: RateWindowRows, limit: int, window_seconds: int,
                 clock=time.time):
        self.windows = windows
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._since_prune = 0
        self.rejected = 0
        self._local_cap = int(limit * self.LOCAL_SHARE)  # 0: every request counted at once
        self._local_below = limit - max(1, int(limit * self.HEADROOM))
        self._seen: dict[str, _Seen] = {}
        self._sync: asyncio.Task | None = None

    async def admit(self, client: str) -> Verdict:
        index, reset_after = _window(self._clock(), self.window)
        seen = self._seen.get(client)
        if seen is None or seen.index != index:
            if len(self._seen) >= self.REMEMBERED_MAX and seen is None:
                self._seen = {c: w for c, w in self._seen.items() if w.index == index}
                if len(self._seen) >= self.REMEMBERED_MAX:
                    # that many clients at once: start again (each forgets at most its 1%
                    # admitted since the last sync)
                    self._seen.clear()
            seen = self._seen[client] = _Seen(index)
        if seen.shared > self.limit:  # over it, as last read: the count only grows
            self.rejected += 1
            return _verdict(self.limit, seen.shared, reset_after)
        if (seen.synced and seen.pending < self._local_cap
                and seen.shared + seen.pending < self._local_below):
            seen.pending += 1
            self._sync_soon()
            return _verdict(self.limit, seen.shared + seen.pending, reset_after)
        hits, seen.pending = seen.pending + 1, 0
        try:
            count = await self.windows.add({(client, index): hits})
        except BaseException as exc:  # any database failure: let the request through
            seen.pending += hits  # the next sync tries to add them
            if not isinstance(exc, Exception):
                raise  # cancelled (the client went away): the hits are kept all the same
            event(log, "ratelimit.unavailable", logging.WARNING, error=type(exc).__name__)
            return Verdict(True, self.limit, self.limit, reset_after)
        seen.shared = max(seen.shared, count[(client, index)])
        if seen.shared > self.limit:
            self.rejected += 1
        return _verdict(self.limit, seen.shared, reset_after)

    def _sync_soon(self) -> None:
        if self._sync is None or self._sync.done():
            self._sync = asyncio.get_running_loop().create_task(self._sync_after(),
                                                                name="ratelimit-sync")

    async def _sync_after(self) -> None:
        await asyncio.sleep(self.SYNC_SECONDS)
        await self.sync()

    async def sync(self) -> None:
        """Adds the hits admitted from memory to the shared windows (and reads the windows'
        counts back: what the other instances added)."""
        index = int(self._clock() // self.window)
        taken = {}
        for client, seen in self._seen.items():
            if seen.pending and seen.index == index:  # an ended window's hits no longer matter
                taken[(client, seen.index)] = seen.pending
                seen.pending = 0
        if not taken:
            return
        try:
            counts = await self.windows.add(taken)
            self._since_prune += 1
            if self._since_prune >= self.PRUNE_EVERY:
                self._since_prune = 0
                await self.windows.prune(index)
        except BaseException as exc:  # kept for the next sync
            for (client, i), n in taken.items():
                kept = self._seen.get(client)
                if kept is not None and kept.index == i:
                    kept.pending += n
            if not isinstance(exc, Exception):
                raise
            event(log, "ratelimit.unavailable", logging.WARNING, error=type(exc).__name__)
            return
        for (client, i), count in counts.items():
            known = self._seen.get(client)
            if known is not None and known.index == i:
                known.shared = max(known.shared, count)

    async def close(self) -> None:
        """At shutdown: what was admitted from memory is added, so the others count it."""
        await cancel_and_wait(self._sync)
        try:
            await asyncio.wait_for(self.sync(), CLOSE_SECONDS)
        except asyncio.TimeoutError:  # the database out of reach: the windows run a bit short
            event(log, "ratelimit.unsynced", logging.WARNING)
