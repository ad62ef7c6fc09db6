"""The contact lookup cache (PostgreSQL): which contact holds a number, per account, in memory.

Caller ID, screen-pop and the call log's naming ask it on every call; over the network each
answer costs a round trip (~130 µs on loopback, more on a LAN) where SQLite answered in ~15 µs
on the loop. Entries carry the account's generation: a change to the account's contacts
(announced by PostgreSQL on callbridge_contacts, from whichever instance, and noted locally
right after this instance's own writes) moves the generation on and every entry of the account
goes stale at once. While the LISTEN connection is down nothing is announced, so the cache
answers nothing then, and forgets everything when it is back.

SQLite needs none of this: its lookups are cheaper than a cache's bookkeeping would be worth,
and another process (`callbridge contacts import`) could change the file unannounced.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from callbridge.db.listener import PgListener

CHANNEL = "callbridge_contacts"
MISS = object()


class LookupCache:
    def __init__(self, listener: PgListener, size: int = 200_000):
        self.listener = listener
        self.size = size
        self._entries: OrderedDict[tuple[int, str], tuple[tuple[int, int], Any]] = OrderedDict()
        self._generation: dict[int, int] = {}
        self._epoch = 0  # moves on when everything is forgotten
        self.hits = self.misses = 0
        listener.on(CHANNEL, lambda payload: self.forget(int(payload)))
        listener.on_reconnect(self.forget_all)

    def token(self, account_id: int) -> tuple[int, int]:
        """Taken before reading the database: an entry put with it is stale if the account
        changed meanwhile."""
        return self._epoch, self._generation.get(account_id, 0)

    def get(self, account_id: int, key: str) -> Any:
        """The cached answer (None: no contact holds it), or MISS."""
        if not self.listener.listening:
            return MISS
        entry = self._entries.get((account_id, key))
        if entry is None or entry[0] != self.token(account_id):
            self.misses += 1
            return MISS
        self._entries.move_to_end((account_id, key))
        self.hits += 1
        return entry[1]

    def put(self, account_id: int, key: str, value: Any, token: tuple[int, int]) -> None:
        if token != self.token(account_id) or not self.listener.listening:
            return
        self._entries[(account_id, key)] = (token, value)
        self._entries.move_to_end((account_id, key))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, account_id: int) -> None:
        self._generation[account_id] = self._generation.get(account_id, 0) + 1

    def forget_all(self) -> None:
        self._epoch += 1
        self._entries.clear()
