"""SQL for raw CDRs, call-log rows, dialed calls, far-end times and the Master.csv offset."""

from __future__ import annotations

from typing import Any

from callbridge.calllog.cdr import FIELDS
from callbridge.db import Database
from callbridge.db.database import Tx

ROW_FIELDS = ("account_id", "linkedid", "extension", "call_timestamp", "answer_timestamp",
              "end_timestamp", "duration", "billsec", "direction", "disposition",
              "cidname_outside", "cidnumber_outside", "number_outside", "cidext_inside",
              "cidnumber_inside", "contact_uuid", "uniqueid", "call_id")
_CDR_INSERT = (f"INSERT OR IGNORE INTO cdrs({', '.join(FIELDS)})"
               f" VALUES ({', '.join('?' * len(FIELDS))})")


def _marks(n: int) -> str:
    return ",".join("?" * n)


class CallLogStore:
    def __init__(self, db: Database):
        self.db = db

    @staticmethod
    async def insert_cdrs(tx: Tx, cdrs: list[dict]) -> None:
        await tx.executemany(_CDR_INSERT, [tuple(c[f] for f in FIELDS) for c in cdrs])

    @staticmethod
    async def cdrs_of(tx: Tx, linkedids: list[str]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i:i + 500]
            for r in await tx.fetchall(f"SELECT * FROM cdrs WHERE linkedid IN ({_marks(len(chunk))})", chunk):
                out.setdefault(r["linkedid"], []).append(dict(r))
        return out

    @staticmethod
    async def mark_built(tx: Tx, linkedids: list[str]) -> None:
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i:i + 500]
            await tx.execute(f"UPDATE cdrs SET built = 1 WHERE built = 0 AND linkedid IN"
                             f" ({_marks(len(chunk))})", chunk)

    async def unbuilt_linkedids(self) -> list[str]:
        rows = await self.db.fetchall("SELECT DISTINCT linkedid FROM cdrs WHERE built = 0")
        return [r[0] for r in rows]

    @staticmethod
    async def dialed_of(tx: Tx, linkedids: list[str]) -> dict[str, dict]:
        out = {}
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i:i + 500]
            for r in await tx.fetchall(
                    f"SELECT call_id, account_id, extension, number FROM dialed_calls"
                    f" WHERE call_id IN ({_marks(len(chunk))})", chunk):
                out[r["call_id"]] = dict(r)
        return out

    @staticmethod
    async def far_end_of(tx: Tx, linkedids: list[str]) -> dict[str, dict]:
        out = {}
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i:i + 500]
            for r in await tx.fetchall(f"SELECT * FROM far_end_times WHERE linkedid IN ({_marks(len(chunk))})", chunk):
                out[r["linkedid"]] = dict(r)
        return out

    @staticmethod
    async def save_far_end(tx: Tx, linkedid: str, answered_at: str | None, ended_at: str | None) -> None:
        await tx.execute(
            "INSERT INTO far_end_times(linkedid, answered_at, ended_at) VALUES (?, ?, ?)"
            " ON CONFLICT(linkedid) DO UPDATE SET"
            " answered_at = coalesce(far_end_times.answered_at, excluded.answered_at),"
            " ended_at = coalesce(excluded.ended_at, far_end_times.ended_at)",
            (linkedid, answered_at, ended_at))

    async def record_dial(self, call_id: str, account_id: int, extension: str, number: str,
                          created_at: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("INSERT OR IGNORE INTO dialed_calls(call_id, account_id, extension,"
                             " number, created_at) VALUES (?, ?, ?, ?, ?)",
                             (call_id, account_id, extension, number, created_at))

    @staticmethod
    async def upsert_rows(tx: Tx, rows: list[dict[str, Any]]) -> int:
        """Inserts new rows; a row that differs from the stored one for the same call and party
        replaces it under a new rid (so cursor-following clients see the change); identical rows
        are left alone. One read and two batched writes, in call order. Returns rows written."""
        current: dict[tuple[str, str], dict] = {}
        linkedids = sorted({r["linkedid"] for r in rows})
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i:i + 500]
            for r in await tx.fetchall(f"SELECT rid, {', '.join(ROW_FIELDS)} FROM call_log"
                                       f" WHERE linkedid IN ({_marks(len(chunk))})", chunk):
                current[(r["linkedid"], r["extension"])] = dict(r)
        stale, fresh = [], []
        for row in sorted(rows, key=lambda r: (r["call_timestamp"], r["linkedid"], r["extension"])):
            old = current.get((row["linkedid"], row["extension"]))
            if old is not None:
                if all(old[f] == row[f] for f in ROW_FIELDS):
                    continue
                stale.append((old["rid"],))
            fresh.append(tuple(row[f] for f in ROW_FIELDS))
        if stale:
            await tx.executemany("DELETE FROM call_log WHERE rid = ?", stale)
        if fresh:
            await tx.executemany(f"INSERT INTO call_log({', '.join(ROW_FIELDS)})"
                                 f" VALUES ({_marks(len(ROW_FIELDS))})", fresh)
        return len(fresh)

    async def rows(self, account_id: int, after_timestamp: str, after_rid: int, limit: int,
                   direction: str | None, extension: str | None, number: str | None) -> list[dict]:
        where = ["account_id = ?", "call_timestamp > ?", "rid > ?"]
        params: list[Any] = [account_id, after_timestamp, after_rid]
        for column, value in (("direction", direction), ("extension", extension),
                              ("number_outside", number)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = await self.db.fetchall(
            f"SELECT * FROM call_log WHERE {' AND '.join(where)} ORDER BY rid LIMIT ?", (*params, limit))
        return [dict(r) for r in rows]

    async def csv_offset(self, path: str) -> tuple[int, int] | None:
        row = await self.db.fetchone("SELECT inode, offset FROM cdr_csv_state WHERE path = ?", (path,))
        return (row["inode"], row["offset"]) if row else None

    @staticmethod
    async def save_csv_offset(tx: Tx, path: str, inode: int, offset: int) -> None:
        await tx.execute("INSERT INTO cdr_csv_state(path, inode, offset) VALUES (?, ?, ?)"
                         " ON CONFLICT(path) DO UPDATE SET inode = excluded.inode,"
                         " offset = excluded.offset", (path, inode, offset))
