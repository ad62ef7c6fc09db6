"""SQL for raw CDRs, call-log rows, dialed calls, far-end times and the Master.csv offset.

The writer's methods are plain functions on a sqlite3 connection: the service runs them inside
Database.batch(), one transaction on the event loop thread, because under a burst of events every
separate await would wait behind a whole socket read of them (see Database.batch).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from callbridge.calllog.cdr import FIELDS
from callbridge.db import Database

ROW_FIELDS = ("account_id", "linkedid", "extension", "call_timestamp", "answer_timestamp",
              "end_timestamp", "duration", "billsec", "direction", "disposition",
              "cidname_outside", "cidnumber_outside", "number_outside", "cidext_inside",
              "cidnumber_inside", "contact_uuid", "uniqueid", "call_id")
# Fixed when a row is first built: who the outside party was, as the contacts said then.
_NAMED_AT_FIRST_BUILD = ("cidname_outside", "contact_uuid")
_CDR_INSERT = (f"INSERT OR IGNORE INTO cdrs({', '.join(FIELDS)})"
               f" VALUES ({', '.join('?' * len(FIELDS))})")


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """SQLite caps the parameters of one statement: IN lists go 500 at a time."""
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True)
class CsvPosition:
    """How far Master.csv has been read: the file (inode, and a fingerprint of its first line, so
    a file rewritten in place is told apart) and the byte offset after the last complete line."""

    inode: int
    offset: int
    head: str


class CallLogStore:
    def __init__(self, db: Database):
        self.db = db

    # ---- the writer's batch (sync: runs inside Database.batch) ------------------------------

    @staticmethod
    def insert_cdrs(conn: sqlite3.Connection, cdrs: list[dict]) -> None:
        conn.executemany(_CDR_INSERT, [tuple(c[f] for f in FIELDS) for c in cdrs])

    @staticmethod
    def save_far_end(conn: sqlite3.Connection, linkedid: str, answered_at: str | None,
                     ended_at: str | None) -> None:
        conn.execute(
            "INSERT INTO far_end_times(linkedid, answered_at, ended_at) VALUES (?, ?, ?)"
            " ON CONFLICT(linkedid) DO UPDATE SET"
            " answered_at = coalesce(far_end_times.answered_at, excluded.answered_at),"
            " ended_at = coalesce(excluded.ended_at, far_end_times.ended_at)",
            (linkedid, answered_at, ended_at))

    @staticmethod
    def inputs_of(conn: sqlite3.Connection, linkedids: list[str]) -> tuple[dict, dict, dict]:
        """(raw CDRs, dialed call, far-end times) of each linkedid."""
        raw: dict[str, list[dict]] = {}
        dialed: dict[str, dict] = {}
        far: dict[str, dict] = {}
        for chunk in _chunks(linkedids):
            marks = _marks(len(chunk))
            for r in conn.execute(f"SELECT * FROM cdrs WHERE linkedid IN ({marks})", chunk):
                raw.setdefault(r["linkedid"], []).append(dict(r))
            for r in conn.execute("SELECT call_id, account_id, extension, number FROM dialed_calls"
                                  f" WHERE call_id IN ({marks})", chunk):
                dialed[r["call_id"]] = dict(r)
            for r in conn.execute(f"SELECT * FROM far_end_times WHERE linkedid IN ({marks})", chunk):
                far[r["linkedid"]] = dict(r)
        return raw, dialed, far

    @staticmethod
    def with_unbuilt(conn: sqlite3.Connection, linkedids: list[str]) -> list[str]:
        """Those of linkedids that have a raw CDR not yet built into rows: the only calls worth
        (re)building. A CDR read again from Master.csv was ignored at insert, so it makes none."""
        out: set[str] = set()
        for chunk in _chunks(linkedids):
            out.update(r[0] for r in conn.execute(
                f"SELECT DISTINCT linkedid FROM cdrs WHERE built = 0 AND linkedid IN"
                f" ({_marks(len(chunk))})", chunk))
        return [lid for lid in linkedids if lid in out]

    @staticmethod
    def mark_built(conn: sqlite3.Connection, linkedids: list[str]) -> None:
        for chunk in _chunks(linkedids):
            conn.execute(f"UPDATE cdrs SET built = 1 WHERE built = 0 AND linkedid IN"
                         f" ({_marks(len(chunk))})", chunk)

    @staticmethod
    def upsert_rows(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Inserts new rows; a row that differs from the stored one for the same call and party
        (more of its CDRs arrived) replaces it under a new rid, so cursor-following clients see
        the change; identical rows are left alone. The outside party's name is the one the row
        was first published with: renaming a contact later never re-issues a call. One read and
        two batched writes, in call order. Returns the rows written, each with its rid."""
        current: dict[tuple[str, str], dict] = {}
        for chunk in _chunks(sorted({r["linkedid"] for r in rows})):
            for r in conn.execute(f"SELECT rid, {', '.join(ROW_FIELDS)} FROM call_log"
                                  f" WHERE linkedid IN ({_marks(len(chunk))})", chunk):
                current[(r["linkedid"], r["extension"])] = dict(r)
        stale, fresh = [], []
        for row in sorted(rows, key=lambda r: (r["call_timestamp"], r["linkedid"], r["extension"])):
            old = current.get((row["linkedid"], row["extension"]))
            if old is not None:
                row = {**row, **{f: old[f] for f in _NAMED_AT_FIRST_BUILD}}
                if all(old[f] == row[f] for f in ROW_FIELDS):
                    continue
                stale.append((old["rid"],))
            fresh.append(tuple(row[f] for f in ROW_FIELDS))
        conn.executemany("DELETE FROM call_log WHERE rid = ?", stale)
        conn.executemany(f"INSERT INTO call_log({', '.join(ROW_FIELDS)})"
                         f" VALUES ({_marks(len(ROW_FIELDS))})", fresh)
        if not fresh:
            return []
        # AUTOINCREMENT hands consecutive rids to the rows of one executemany on the one writer
        # connection (each is one more than the highest ever used), so the last rid names all.
        (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
        first = last - len(fresh) + 1
        return [{**dict(zip(ROW_FIELDS, values)), "rid": first + i}
                for i, values in enumerate(fresh)]

    @staticmethod
    def save_csv_position(conn: sqlite3.Connection, path: str, position: "CsvPosition") -> None:
        conn.execute("INSERT INTO cdr_csv_state(path, inode, offset, head) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT(path) DO UPDATE SET inode = excluded.inode,"
                     " offset = excluded.offset, head = excluded.head",
                     (path, position.inode, position.offset, position.head))

    @staticmethod
    def ownerless_rows(conn: sqlite3.Connection, extension: str, limit: int) -> list[dict]:
        return [dict(r) for r in conn.execute(
            f"SELECT rid, {', '.join(ROW_FIELDS)} FROM call_log WHERE account_id IS NULL"
            " AND extension = ? ORDER BY rid LIMIT ?", (extension, limit))]

    @staticmethod
    def reissue(conn: sqlite3.Connection, old_rids: list[int], rows: list[dict[str, Any]]) -> None:
        """Replaces rows under new rids (so cursor followers see them), in one transaction."""
        conn.executemany("DELETE FROM call_log WHERE rid = ?", [(r,) for r in old_rids])
        conn.executemany(f"INSERT INTO call_log({', '.join(ROW_FIELDS)})"
                         f" VALUES ({_marks(len(ROW_FIELDS))})",
                         [tuple(row[f] for f in ROW_FIELDS) for row in rows])

    # ---- everything else ------------------------------------------------------------------

    async def record_dial(self, call_id: str, account_id: int, extension: str, number: str,
                          created_at: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("INSERT OR IGNORE INTO dialed_calls(call_id, account_id, extension,"
                             " number, created_at) VALUES (?, ?, ?, ?, ?)",
                             (call_id, account_id, extension, number, created_at))

    async def unbuilt_linkedids(self) -> list[str]:
        rows = await self.db.fetchall("SELECT DISTINCT linkedid FROM cdrs WHERE built = 0")
        return [r[0] for r in rows]

    async def csv_position(self, path: str) -> "CsvPosition | None":
        row = await self.db.fetchone("SELECT inode, offset, head FROM cdr_csv_state WHERE path = ?",
                                     (path,))
        return CsvPosition(row["inode"], row["offset"], row["head"]) if row else None

    async def ownerless_extensions(self) -> list[str]:
        """Extensions with rows no account owns (partial index: nothing to read when none)."""
        rows = await self.db.fetchall("SELECT DISTINCT extension FROM call_log"
                                      " WHERE account_id IS NULL")
        return [r[0] for r in rows]

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
