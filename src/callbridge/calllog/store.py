"""SQL for raw CDRs, call-log rows, dialed calls, far-end times and the Master.csv offset.

The writer's methods take the transaction the service opened with Database.loop_transaction():
on SQLite that is one transaction on the event loop thread, because under a burst of events every
thread hop would wait behind a whole socket read of them (see Database.loop_transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callbridge.calllog.cdr import FIELDS
from callbridge.db import Db, Tx, in_chunks

ROW_FIELDS = ("account_id", "node", "linkedid", "extension", "call_timestamp", "answer_timestamp",
              "end_timestamp", "duration", "billsec", "direction", "disposition",
              "cidname_outside", "cidnumber_outside", "number_outside", "cidext_inside",
              "cidnumber_inside", "contact_uuid", "uniqueid", "call_id")
# Fixed when a row is first built: who the outside party was, as the contacts said then.
_NAMED_AT_FIRST_BUILD = ("cidname_outside", "contact_uuid")
# "end" is a keyword of PostgreSQL's SQL (and quoting is the same in SQLite's)
_CDR_COLUMNS = ", ".join(f'"{f}"' if f == "end" else f for f in FIELDS)
_CDR_INSERT = (f"INSERT INTO cdrs(node, {_CDR_COLUMNS}) VALUES (?, {', '.join('?' * len(FIELDS))})"
               " ON CONFLICT DO NOTHING")  # a CDR read again (Master.csv after AMI) is ignored


def _marks(n: int) -> str:
    return ",".join("?" * n)


async def _insert_rows(tx: Tx, rows: list[tuple]) -> list[int]:
    """Inserts call-log rows (ROW_FIELDS order); returns their rids, in order. Rids only grow,
    in commit order: cursor followers read `rid > last seen`, so no later commit may carry a
    lower one (SQLite: one writer; PostgreSQL: the transaction lock on the call log)."""
    columns, marks = ", ".join(ROW_FIELDS), _marks(len(ROW_FIELDS))
    if tx.engine == "postgresql":
        await tx.execute("SELECT pg_advisory_xact_lock(?)", (CALL_LOG_LOCK,))
        rids = [r[0] for r in await tx.fetchall(
            "SELECT nextval('call_log_rid_seq') FROM generate_series(1, ?)", (len(rows),))]
        await tx.executemany(f"INSERT INTO call_log(rid, {columns}) VALUES (?, {marks})",
                             [(rid, *row) for rid, row in zip(rids, rows, strict=True)])
        return rids
    await tx.executemany(f"INSERT INTO call_log({columns}) VALUES ({marks})", rows)
    # AUTOINCREMENT hands consecutive rids to the rows of one executemany on the one writer
    # connection (each is one more than the highest ever used), so the last rid names all.
    row = await tx.fetchone("SELECT last_insert_rowid()")
    assert row is not None
    last = row[0]
    return list(range(last - len(rows) + 1, last + 1))


# pg_advisory_xact_lock key of the call log's writers ("callbridge call_log" in short)
CALL_LOG_LOCK = 0x6362_636C


@dataclass(frozen=True)
class CsvPosition:
    """How far Master.csv has been read: the file (inode, and a fingerprint of its first line, so
    a file rewritten in place is told apart) and the byte offset after the last complete line."""

    inode: int
    offset: int
    head: str


class CallLogStore:
    def __init__(self, db: Db):
        self.db = db

    # ---- the writer's transaction (Database.loop_transaction) -------------------------------

    @staticmethod
    async def insert_cdrs(tx: Tx, node: str, cdrs: list[dict]) -> None:
        await tx.executemany(_CDR_INSERT, [(node, *(c.get(f) for f in FIELDS)) for c in cdrs])

    @staticmethod
    async def save_far_end(tx: Tx, node: str, linkedid: str, answered_at: str | None,
                           ended_at: str | None) -> None:
        await tx.execute(
            "INSERT INTO far_end_times(node, linkedid, answered_at, ended_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(node, linkedid) DO UPDATE SET"
            " answered_at = coalesce(far_end_times.answered_at, excluded.answered_at),"
            " ended_at = coalesce(excluded.ended_at, far_end_times.ended_at)",
            (node, linkedid, answered_at, ended_at))

    @staticmethod
    async def save_holds(tx: Tx, node: str, marks: list[tuple[str, str, str, bool, str]]) -> None:
        """Hold marks in the order seen, each (linkedid, uniqueid, channel, on, at): a hold opens
        a period, its end closes the channel's open one. Seen twice (a second instance that read
        the same events): the same period, kept once."""
        for linkedid, uniqueid, channel, on, at in marks:
            if on:
                await tx.execute(
                    "INSERT INTO call_holds(node, linkedid, uniqueid, channel, start)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (node, linkedid, uniqueid, channel, at))
            else:
                await tx.execute('UPDATE call_holds SET "end" = ? WHERE node = ? AND uniqueid = ?'
                                 ' AND "end" IS NULL', (at, node, uniqueid))

    @staticmethod
    async def save_hangups(tx: Tx, node: str,
                           hangups: list[tuple[str, str, str, str, str | None]]) -> None:
        """(linkedid, uniqueid, channel, at, cause) of who hung up each call (the service's
        hangup_requested): the first one stored for a call stands."""
        await tx.executemany(
            "INSERT INTO call_hangups(node, linkedid, uniqueid, channel, at, cause)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(node, *h) for h in hangups])

    @staticmethod
    async def inputs_of(tx: Tx, node: str, linkedids: list[str]) -> tuple[dict, dict, dict]:
        """(raw CDRs, dialed call, far-end times) of each linkedid."""
        raw: dict[str, list[dict]] = {}
        dialed: dict[str, dict] = {}
        far: dict[str, dict] = {}
        for chunk in in_chunks(linkedids):
            marks = _marks(len(chunk))
            for r in await tx.fetchall(f"SELECT * FROM cdrs WHERE node = ? AND linkedid IN ({marks})",
                                       (node, *chunk)):
                raw.setdefault(r["linkedid"], []).append(dict(r))
            for r in await tx.fetchall("SELECT call_id, account_id, extension, number"
                                       f" FROM dialed_calls WHERE call_id IN ({marks})", chunk):
                dialed[r["call_id"]] = dict(r)
            for r in await tx.fetchall(f"SELECT * FROM far_end_times WHERE node = ?"
                                       f" AND linkedid IN ({marks})", (node, *chunk)):
                far[r["linkedid"]] = dict(r)
        return raw, dialed, far

    @staticmethod
    async def with_unbuilt(tx: Tx, node: str, linkedids: list[str]) -> list[str]:
        """Those of linkedids that have a raw CDR not yet built into rows: the only calls worth
        (re)building. A CDR read again from Master.csv was ignored at insert, so it makes none."""
        out: set[str] = set()
        for chunk in in_chunks(linkedids):
            out.update(r[0] for r in await tx.fetchall(
                f"SELECT DISTINCT linkedid FROM cdrs WHERE node = ? AND built = 0 AND linkedid IN"
                f" ({_marks(len(chunk))})", (node, *chunk)))
        return [lid for lid in linkedids if lid in out]

    @staticmethod
    async def mark_built(tx: Tx, node: str, linkedids: list[str]) -> None:
        for chunk in in_chunks(linkedids):
            await tx.execute(f"UPDATE cdrs SET built = 1 WHERE node = ? AND built = 0 AND linkedid IN"
                             f" ({_marks(len(chunk))})", (node, *chunk))

    @staticmethod
    async def upsert_rows(tx: Tx, node: str, rows: list[dict[str, Any]],
                          stands: Callable[[dict, dict], bool] | None = None
                          ) -> list[dict[str, Any]]:
        """Inserts new rows; a row that differs from the stored one for the same call and party
        (more of its CDRs arrived) replaces it under a new rid, so cursor-following clients see
        the change; identical rows are left alone. The outside party's name is the one the row
        was first published with: renaming a contact later never re-issues a call. One read and
        two batched writes, in call order. stands(stored, new): the service's say that a stored
        row stands although new differs from it. Returns the rows written, each with its rid."""
        current: dict[tuple[str, str], dict] = {}
        for chunk in in_chunks(sorted({r["linkedid"] for r in rows})):
            for r in await tx.fetchall(f"SELECT rid, {', '.join(ROW_FIELDS)} FROM call_log"
                                       f" WHERE node = ? AND linkedid IN ({_marks(len(chunk))})",
                                       (node, *chunk)):
                current[(r["linkedid"], r["extension"])] = dict(r)
        stale, fresh = [], []
        for row in sorted(rows, key=lambda r: (r["call_timestamp"], r["linkedid"], r["extension"])):
            old = current.get((row["linkedid"], row["extension"]))
            if old is not None:
                row = {**row, **{f: old[f] for f in _NAMED_AT_FIRST_BUILD}}
                if all(old[f] == row[f] for f in ROW_FIELDS) or (stands and stands(old, row)):
                    continue
                stale.append((old["rid"],))
            fresh.append(tuple(row[f] for f in ROW_FIELDS))
        await tx.executemany("DELETE FROM call_log WHERE rid = ?", stale)
        if not fresh:
            return []
        rids = await _insert_rows(tx, fresh)
        return [{**dict(zip(ROW_FIELDS, values, strict=True)), "rid": rid}
                for rid, values in zip(rids, fresh, strict=True)]

    @staticmethod
    async def save_csv_position(tx: Tx, path: str, position: "CsvPosition") -> None:
        await tx.execute('INSERT INTO cdr_csv_state(path, inode, "offset", head)'
                         " VALUES (?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                         ' inode = excluded.inode, "offset" = excluded."offset", head = excluded.head',
                         (path, position.inode, position.offset, position.head))

    @staticmethod
    async def ownerless_rows(tx: Tx, extension: str, limit: int) -> list[dict]:
        return [dict(r) for r in await tx.fetchall(
            f"SELECT rid, {', '.join(ROW_FIELDS)} FROM call_log WHERE account_id IS NULL"
            " AND extension = ? ORDER BY rid LIMIT ?", (extension, limit))]

    @staticmethod
    async def reissue(tx: Tx, old_rids: list[int], rows: list[dict[str, Any]]) -> None:
        """Replaces rows under new rids (so cursor followers see them), in one transaction."""
        await tx.executemany("DELETE FROM call_log WHERE rid = ?", [(r,) for r in old_rids])
        if rows:
            await _insert_rows(tx, [tuple(row[f] for f in ROW_FIELDS) for row in rows])

    # ---- everything else ------------------------------------------------------------------

    async def record_dial(self, call_id: str, account_id: int, extension: str, number: str,
                          created_at: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO dialed_calls(call_id, account_id, extension,"
                             " number, created_at) VALUES (?, ?, ?, ?, ?)"
                             " ON CONFLICT DO NOTHING",
                             (call_id, account_id, extension, number, created_at))

    async def unbuilt_linkedids(self, node: str) -> list[str]:
        rows = await self.db.fetchall("SELECT DISTINCT linkedid FROM cdrs WHERE node = ?"
                                      " AND built = 0", (node,))
        return [r[0] for r in rows]

    async def csv_position(self, path: str) -> "CsvPosition | None":
        row = await self.db.fetchone('SELECT inode, "offset", head FROM cdr_csv_state WHERE path = ?',
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

    async def rows_of_call(self, account_id: int, node: str, linkedid: str) -> list[dict]:
        """The account's rows of one call (the (node, linkedid, extension) key's index)."""
        return [dict(r) for r in await self.db.fetchall(
            "SELECT * FROM call_log WHERE node = ? AND linkedid = ? AND account_id = ?"
            " ORDER BY rid", (node, linkedid, account_id))]

    async def cdrs_of_call(self, node: str, linkedid: str) -> list[dict]:
        return [dict(r) for r in await self.db.fetchall(
            "SELECT * FROM cdrs WHERE node = ? AND linkedid = ?", (node, linkedid))]

    async def hangup_of_call(self, node: str, linkedid: str) -> dict | None:
        row = await self.db.fetchone("SELECT uniqueid, channel, at, cause FROM call_hangups"
                                     " WHERE node = ? AND linkedid = ?", (node, linkedid))
        return dict(row) if row else None

    async def holds_of_call(self, node: str, linkedid: str) -> list[dict]:
        return [dict(r) for r in await self.db.fetchall(
            'SELECT uniqueid, channel, start, "end" FROM call_holds WHERE node = ? AND linkedid = ?'
            " ORDER BY start, uniqueid", (node, linkedid))]
