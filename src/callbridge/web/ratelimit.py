"""Fixed-window request counting per client (an API key's id, or an IP when no valid key).

A fixed window is what the seed describes ("1000 requests per 15-minute window") and what the
RateLimit-* headers express: a count that resets at a known instant. Memory stays bounded: windows
that ended are dropped whenever the table grows past a threshold.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from callbridge.logs import event

log = logging.getLogger("callbridge.http")


@dataclass(slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the current window ends


class FixedWindowLimiter:
    def __init__(self, limit: int, window_seconds: int, clock=time.time, prune_at: int = 50_000):
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._prune_at = prune_at
        self._counts: dict[str, tuple[int, int]] = {}  # client -> (window index, count)
        self.rejected = 0  # requests refused with a 429, for the metrics

    def hit(self, client: str) -> Verdict:
        now = self._clock()
        index = int(now // self.window)
        window, count = self._counts.get(client, (index, 0))
        if window != index:
            count = 0
        count += 1
        if len(self._counts) >= self._prune_at and client not in self._counts:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
        self._counts[client] = (index, count)
        reset_after = max(1, int((index + 1) * self.window - now + 0.999))
        if count > self.limit:
            self.rejected += 1
        return Verdict(count <= self.limit, self.limit, max(0, self.limit - count), reset_after)

    async def admit(self, client: str) -> Verdict:
        return self.hit(client)


class SharedWindowLimiter:
    """The same fixed windows, counted in PostgreSQL: several instances behind a load balancer
    share one window per client, not one each. One upsert per admitted request (~0.2 ms on a
    LAN; a client already over its limit is refused from memory until its window ends) in an
    UNLOGGED table (a database crash forgets the current windows, which only relaxes them).
    With the database unreachable a request is let through: the limit is not worth an outage,
    and the request will meet the same database a moment later anyway."""

    PRUNE_EVERY = 500  # requests between deletions of ended windows
    EXHAUSTED_MAX = 10_000  # clients remembered as over their limit, at most

    def __init__(self, db: Any, limit: int, window_seconds: int, clock=time.time):
        self.db = db
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._since_prune = 0
        self.rejected = 0
        # client -> the window this instance saw it go over the limit in: a window's count only
        # grows, so the rest of that window is refused here without asking the database (a
        # client flooding 429s costs no round trips)
        self._exhausted: dict[str, int] = {}

    async def admit(self, client: str) -> Verdict:
        now = self._clock()
        index = int(now // self.window)
        reset_after = max(1, int((index + 1) * self.window - now + 0.999))
        if self._exhausted.get(client) == index:
            self.rejected += 1
            return Verdict(False, self.limit, 0, reset_after)
        try:
            count = await self.db.pool.fetchval(
                "INSERT INTO rate_windows(client, window_index, hits) VALUES ($1, $2, 1)"
                " ON CONFLICT (client, window_index) DO UPDATE"
                " SET hits = rate_windows.hits + 1 RETURNING hits", client, index)
            self._since_prune += 1
            if self._since_prune >= self.PRUNE_EVERY:
                self._since_prune = 0
                await self.db.pool.execute("DELETE FROM rate_windows WHERE window_index < $1",
                                           index)
        except Exception as exc:  # noqa: BLE001 - any database failure: let the request through
            event(log, "ratelimit.unavailable", logging.WARNING, error=type(exc).__name__)
            return Verdict(True, self.limit, self.limit, reset_after)
        if count > self.limit:
            self.rejected += 1
            if len(self._exhausted) >= self.EXHAUSTED_MAX:
                self._exhausted = {c: i for c, i in self._exhausted.items() if i == index}
                if len(self._exhausted) >= self.EXHAUSTED_MAX:
                    self._exhausted.clear()  # that many floods at once: ask the database again
            self._exhausted[client] = index
        return Verdict(count <= self.limit, self.limit, max(0, self.limit - count), reset_after)
