"""Memory a busy PBX can't grow without end: the tables that follow calls, clicks and tickets
forget their oldest entries once full.

A plain dict keeps insertion order, so its first key is the oldest. Entries go one at a time as
new ones come (never a sweep of half the table in one loop turn), and a key already held keeps
its place: following a call again does not make it young."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def put_bounded(table: dict[K, V], key: K, value: V, limit: int) -> None:
    """table[key] = value, the oldest keys dropped first so that the table holds at most limit."""
    if key not in table:
        while len(table) >= limit:
            del table[next(iter(table))]
    table[key] = value
