"""SQL of webhooks and their outbox (webhook_deliveries)."""

from __future__ import annotations

import json
from typing import Any

from callbridge.db import Db, Row, Tx

# How long a claimed delivery is another instance's (PostgreSQL): past the send timeout.
CLAIM_SECONDS = 15.0
_HOOK_COLS = ("id, uuid, account_id, url, types, created_at, last_success_at, disabled_at,"
              " disabled_reason")
_DELIVERY_COLS = ("d.id, d.webhook_id, d.msg_id, d.event_type, d.payload, d.status, d.attempts,"
                  " d.next_attempt_at, d.created_at, d.last_attempt_at, d.last_status,"
                  " d.last_error, d.last_response, d.last_ms")


def _hook(row: Row) -> dict:
    d = dict(row)
    d["types"] = json.loads(d["types"])
    return d


class WebhookStore:
    def __init__(self, db: Db):
        self.db = db

    # ---- subscriptions ----------------------------------------------------------------------

    async def create(self, uuid: str, account_id: int, url: str, types: list[str], secret: str,
                     created_at: str, limit: int) -> bool:
        """False when the account already has `limit` webhooks."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone("SELECT count(*) FROM webhooks WHERE account_id = ?",
                                    (account_id,))
            if row is not None and row[0] >= limit:
                return False
            await tx.insert("INSERT INTO webhooks(uuid, account_id, url, types, secret, created_at)"
                            " VALUES (?, ?, ?, ?, ?, ?)",
                            (uuid, account_id, url, json.dumps(types), secret, created_at))
        return True

    async def of_account(self, account_id: int) -> list[dict]:
        return [_hook(r) for r in await self.db.fetchall(
            f"SELECT {_HOOK_COLS} FROM webhooks WHERE account_id = ? ORDER BY id", (account_id,))]

    async def get(self, account_id: int, uuid: str) -> dict | None:
        row = await self.db.fetchone(f"SELECT {_HOOK_COLS} FROM webhooks WHERE account_id = ?"
                                     " AND uuid = ?", (account_id, uuid))
        return _hook(row) if row else None

    async def delete(self, account_id: int, uuid: str) -> bool:
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM webhooks WHERE account_id = ? AND uuid = ?",
                                    (account_id, uuid)) > 0

    async def secret(self, webhook_id: int) -> str | None:
        row = await self.db.fetchone("SELECT secret FROM webhooks WHERE id = ?", (webhook_id,))
        return row[0] if row else None

    # ---- the outbox -----------------------------------------------------------------------

    @staticmethod
    async def active_for(tx: Tx, account_ids: list[int]) -> list[dict]:
        marks = ", ".join("?" * len(account_ids))
        return [_hook(r) for r in await tx.fetchall(
            f"SELECT {_HOOK_COLS} FROM webhooks WHERE disabled_at IS NULL"
            f" AND account_id IN ({marks})", account_ids)]

    @staticmethod
    async def enqueue(tx: Tx, rows: list[tuple]) -> None:
        """rows: (webhook_id, msg_id, event_type, payload, next_attempt_at, created_at)."""
        await tx.executemany("INSERT INTO webhook_deliveries(webhook_id, msg_id, event_type, payload,"
                         " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?)", rows)

    async def enqueue_one(self, row: tuple) -> int:
        async with self.db.transaction() as tx:
            return await tx.insert("INSERT INTO webhook_deliveries(webhook_id, msg_id, event_type,"
                                   " payload, next_attempt_at, created_at)"
                                   " VALUES (?, ?, ?, ?, ?, ?)", row)

    async def due(self, now: float, per_endpoint: int, skip: list[int], limit: int) -> list[dict]:
        """Deliveries due now: at most `per_endpoint` of each endpoint (oldest first), none of the
        endpoints in `skip` (their lanes are full), at most `limit` in all, the endpoints whose
        oldest due delivery waited longest first. One endpoint's backlog is never read whole.

        On PostgreSQL, where several instances send, each is claimed: its next attempt moves
        CLAIM_SECONDS ahead in the same statement (rows another instance is claiming are
        skipped), so one instance sends it; if that instance dies mid-send, the claim runs out
        and another sends it (at least once, as after a crash of one process)."""
        skipping = f" AND w.id NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        # per endpoint: its first due rows by the (webhook_id, status, next_attempt_at) index
        pick = ("SELECT d.id FROM webhooks w JOIN webhook_deliveries d ON d.id IN ("
                " SELECT id FROM webhook_deliveries WHERE webhook_id = w.id"
                " AND status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, id LIMIT ?)"
                f" WHERE w.disabled_at IS NULL{skipping}"
                " ORDER BY d.next_attempt_at, d.id LIMIT ?")
        params = (now, per_endpoint, *skip, limit)
        if self.db.engine == "postgresql":
            # LATERAL: each endpoint's first due rows by the lane index, whatever the outbox's
            # size (the correlated IN was planned over the whole table: passes slowed as it grew)
            pick_pg = ("SELECT d.id FROM webhooks w CROSS JOIN LATERAL ("
                       " SELECT id, next_attempt_at FROM webhook_deliveries"
                       " WHERE webhook_id = w.id AND status = 'pending' AND next_attempt_at <= ?"
                       " ORDER BY next_attempt_at, id LIMIT ?) d"
                       f" WHERE w.disabled_at IS NULL{skipping}"
                       " ORDER BY d.next_attempt_at, d.id LIMIT ?")
            async with self.db.transaction() as tx:
                # the due time again at the locking level: a read whose snapshot predates
                # another instance's claim locks the row once that claim commits, and PostgreSQL
                # re-checks only this level's conditions on the claimed row (without this one
                # it saw a pending row and sent it a second time)
                rows = await tx.fetchall(
                    "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id IN ("
                    f" SELECT id FROM webhook_deliveries WHERE id IN ({pick_pg})"
                    " AND status = 'pending' AND next_attempt_at <= ?"
                    " FOR UPDATE SKIP LOCKED) RETURNING id",
                    (now + CLAIM_SECONDS, *params, now))
                if not rows:
                    return []
                claimed = [r["id"] for r in rows]
                return [dict(r) for r in await tx.fetchall(
                    f"SELECT {_DELIVERY_COLS}, w.url, w.secret FROM webhook_deliveries d"
                    " JOIN webhooks w ON w.id = d.webhook_id"
                    f" WHERE d.id IN ({', '.join('?' * len(claimed))})"
                    " ORDER BY d.id", claimed)]
        return [dict(r) for r in await self.db.fetchall(
            f"SELECT {_DELIVERY_COLS}, w.url, w.secret FROM webhook_deliveries d"
            f" JOIN webhooks w ON w.id = d.webhook_id WHERE d.id IN ({pick})"
            " ORDER BY d.next_attempt_at, d.id", params)]

    async def release(self, delivery_ids: list[int], due_at: float) -> None:
        """Gives back deliveries a read claimed but this instance did not send (PostgreSQL;
        nothing to give back on SQLite, where reads claim nothing)."""
        if self.db.engine != "postgresql":
            return
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id IN"
                             f" ({', '.join('?' * len(delivery_ids))}) AND status = 'pending'",
                             (due_at, *delivery_ids))

    async def record_attempt(self, delivery_id: int, values: dict[str, Any],
                             succeeded: tuple[int, str] | None = None) -> None:
        """An attempt's outcome; succeeded = (webhook id, when): also the endpoint's last success,
        in the same transaction (one write turn per delivery: the busiest write of an outbox)."""
        sets = ", ".join(f"{k} = ?" for k in values)
        async with self.db.transaction() as tx:
            await tx.execute(f"UPDATE webhook_deliveries SET {sets} WHERE id = ?",
                             (*values.values(), delivery_id))
            if succeeded is not None:
                await tx.execute("UPDATE webhooks SET last_success_at = ? WHERE id = ?",
                                 (succeeded[1], succeeded[0]))

    async def last_success(self, webhook_id: int) -> str | None:
        row = await self.db.fetchone("SELECT last_success_at FROM webhooks WHERE id = ?",
                                     (webhook_id,))
        return row[0] if row else None

    async def enable(self, webhook_id: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL"
                             " WHERE id = ?", (webhook_id,))

    async def disable(self, webhook_id: int, at: str, reason: str) -> None:
        """Disables the endpoint and fails what it still had pending, saying why."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE webhooks SET disabled_at = ?, disabled_reason = ?"
                             " WHERE id = ? AND disabled_at IS NULL", (at, reason, webhook_id))
            await tx.execute("UPDATE webhook_deliveries SET status = 'failed', last_error = ?"
                             " WHERE webhook_id = ? AND status = 'pending'",
                             (f"endpoint disabled: {reason}", webhook_id))

    async def deliveries(self, webhook_id: int, before: int | None, limit: int) -> list[dict]:
        return [dict(r) for r in await self.db.fetchall(
            f"SELECT {_DELIVERY_COLS} FROM webhook_deliveries d WHERE d.webhook_id = ?"
            " AND d.id < ? ORDER BY d.id DESC LIMIT ?",
            (webhook_id, before if before is not None else 2**62, limit))]
