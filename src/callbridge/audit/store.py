"""SQL for the audit trail (table audit_log)."""

from __future__ import annotations

from callbridge.db import Db
from callbridge.db.interface import Row

_COLUMNS = "id, at, account_uuid, account_name, actor, action, target, detail"
PRUNE_BATCH = 5000  # rows deleted per transaction: a year's backlog never holds the writer long


class AuditStore:
    def __init__(self, db: Db):
        self.db = db

    async def add(self, at: str, account_uuid: str | None, account_name: str | None, actor: str,
                  action: str, target: str | None, detail: str | None) -> int:
        async with self.db.transaction() as tx:
            return await tx.insert(
                "INSERT INTO audit_log(at, account_uuid, account_name, actor, action, target,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at, account_uuid, account_name, actor, action, target, detail))

    async def page(self, *, account: str | None, action: str | None, since: str | None,
                   until: str | None, before: int | None, limit: int) -> list[Row]:
        """Newest first; `account` matches the public id or the name (a deleted account's
        entries are found by either)."""
        where, params = [], []  # type: list[str], list[object]
        if account is not None:
            where.append("(account_uuid = ? OR account_name = ?)")
            params += [account, account]
        if action is not None:
            # "key" matches key.created, key.revoked, …; "key.created" only itself
            where.append("(action = ? OR action LIKE ?)")
            params += [action, action + ".%"]
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at < ?")
            params.append(until)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        sql = f"SELECT {_COLUMNS} FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return await self.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))

    async def prune(self, older_than: str) -> int:
        """Deletes entries from before `older_than`, a batch per transaction; how many."""
        removed = 0
        while True:
            async with self.db.transaction() as tx:
                n = await tx.execute(
                    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ?"
                    " ORDER BY id LIMIT ?)", (older_than, PRUNE_BATCH))
            removed += n
            if n < PRUNE_BATCH:
                return removed
