"""SQL of the event journal. Functions taking a Tx run inside a caller's write transaction
(Database.loop_transaction), so an event is stored with whatever produced it."""

from __future__ import annotations

from callbridge.db import Db, Row, Tx


class EventStore:
    def __init__(self, db: Db):
        self.db = db

    @staticmethod
    async def reserve_ids(tx: Tx, account_id: int, count: int) -> int:
        """The first of `count` new ids of the account (ids only grow, also across restarts).
        The counter's row stays locked until the commit, so ids are committed in order."""
        await tx.execute("INSERT INTO event_counters(account_id) VALUES (?) ON CONFLICT DO NOTHING",
                         (account_id,))
        row = await tx.fetchone("UPDATE event_counters SET last_id = last_id + ?"
                                " WHERE account_id = ? RETURNING last_id", (count, account_id))
        assert row is not None  # inserted just above
        return row[0] - count + 1

    @staticmethod
    async def insert(tx: Tx, rows: list[tuple]) -> None:
        """rows: (account_id, id, type, extension, stored_at, body)."""
        await tx.executemany("INSERT INTO events(account_id, id, type, extension, stored_at, body)"
                         " VALUES (?, ?, ?, ?, ?, ?)", rows)

    async def body_of(self, account_id: int, event_id: int) -> str | None:
        row = await self.db.fetchone("SELECT body FROM events WHERE account_id = ? AND id = ?",
                                     (account_id, event_id))
        return row[0] if row else None

    @staticmethod
    async def prune(tx: Tx, before: float, limit: int) -> int:
        """Deletes up to `limit` events stored before `before`, recording per account the
        highest id deleted. Returns how many were deleted."""
        gone = await tx.fetchall("SELECT account_id, max(id) FROM (SELECT account_id, id"
                                 " FROM events WHERE stored_at < ? ORDER BY stored_at LIMIT ?) AS old"
                                 " GROUP BY account_id ORDER BY account_id", (before, limit))
        # accounts in one order: instances pruning at once (each does, on PostgreSQL) lock the
        # same rows in the same order, so one waits for the other rather than deadlocking
        deleted = 0
        for account_id, through in gone:
            deleted += await tx.execute("DELETE FROM events WHERE account_id = ? AND id <= ?",
                                        (account_id, through))
            # CASE, not SQLite's two-argument max(): the same SQL in both engines
            await tx.execute("UPDATE event_counters SET pruned_through = CASE WHEN"
                             " pruned_through > ? THEN pruned_through ELSE ? END"
                             " WHERE account_id = ?", (through, through, account_id))
        return deleted

    async def after(self, account_id: int, after_id: int, limit: int) -> list[Row]:
        return await self.db.fetchall(
            "SELECT id, type, extension, body FROM events WHERE account_id = ? AND id > ?"
            " ORDER BY id LIMIT ?", (account_id, after_id, limit))

    async def latest_of_call(self, account_id: int, type_: str, call_id: str) -> str | None:
        """The body of the account's newest event of this type about this call (newest first
        along the primary key, so a recent call is found after a few rows)."""
        if not call_id or any(c not in "0123456789abcdef-" for c in call_id):
            return None  # a call id is a UUID: nothing else can match (nor reach LIKE)
        row = await self.db.fetchone(
            "SELECT body FROM events WHERE account_id = ? AND type = ? AND body LIKE ?"
            " ORDER BY id DESC LIMIT 1", (account_id, type_, f'%"call_id":"{call_id}"%'))
        return row[0] if row else None

    async def counters(self, account_id: int) -> tuple[int, int]:
        """(last id, pruned through) of the account."""
        row = await self.db.fetchone("SELECT last_id, pruned_through FROM event_counters"
                                     " WHERE account_id = ?", (account_id,))
        return (row[0], row[1]) if row else (0, 0)
