"""Fixed-window request counting per client (an API key's id, or an IP when no valid key).

A fixed window is what the seed describes ("1000 requests per 15-minute window") and what the
RateLimit-* headers express: a count that resets at a known instant. Memory stays bounded: windows
that ended are dropped whenever the table grows past a threshold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


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
