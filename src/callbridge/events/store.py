"""SQL of the event journal. Functions taking a sqlite3 connection run inside a caller's write
transaction (Database.batch), so an event is stored with whatever produced it."""

from __future__ import annotations

import sqlite3

from callbridge.db import Database


class EventStore:
    def __init__(self, db: Database):
        self.db = db

    @staticmethod
    def reserve_ids(conn: sqlite3.Connection, account_id: int, count: int) -> int:
        """The first of `count` new ids of the account (ids only grow, also across restarts)."""
        conn.execute("INSERT INTO event_counters(account_id) VALUES (?) ON CONFLICT DO NOTHING",
                     (account_id,))
        (last,) = conn.execute("UPDATE event_counters SET last_id = last_id + ?"
                               " WHERE account_id = ? RETURNING last_id",
                               (count, account_id)).fetchone()
        return last - count + 1

    @staticmethod
    def insert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
        """rows: (account_id, id, type, extension, stored_at, body)."""
        conn.executemany("INSERT INTO events(account_id, id, type, extension, stored_at, body)"
                         " VALUES (?, ?, ?, ?, ?, ?)", rows)

    @staticmethod
    def prune(conn: sqlite3.Connection, before: float, limit: int) -> int:
        """Deletes up to `limit` events stored before `before`, recording per account the
        highest id deleted. Returns how many were deleted."""
        gone = conn.execute("SELECT account_id, max(id) FROM (SELECT account_id, id FROM events"
                            " WHERE stored_at < ? ORDER BY stored_at LIMIT ?) GROUP BY account_id",
                            (before, limit)).fetchall()
        deleted = 0
        for account_id, through in gone:
            deleted += conn.execute("DELETE FROM events WHERE account_id = ? AND id <= ?",
                                    (account_id, through)).rowcount
            conn.execute("UPDATE event_counters SET pruned_through = max(pruned_through, ?)"
                         " WHERE account_id = ?", (through, account_id))
        return deleted

    async def after(self, account_id: int, after_id: int, limit: int) -> list[sqlite3.Row]:
        return await self.db.fetchall(
            "SELECT id, type, extension, body FROM events WHERE account_id = ? AND id > ?"
            " ORDER BY id LIMIT ?", (account_id, after_id, limit))

    async def counters(self, account_id: int) -> tuple[int, int]:
        """(last id, pruned through) of the account."""
        row = await self.db.fetchone("SELECT last_id, pruned_through FROM event_counters"
                                     " WHERE account_id = ?", (account_id,))
        return (row[0], row[1]) if row else (0, 0)
