"""`callbridge db copy SQLITE_FILE postgresql://…`: moves an installation from SQLite to
PostgreSQL.

Every table is copied in one PostgreSQL transaction (a failure leaves the target as empty as it
was), in batches read from a read-only SQLite snapshot and written with COPY (binary). The
sequences behind generated ids are moved past the copied ids, and each table's row count is
compared on both sides before the commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg

from callbridge.db.migrate import migrate
from callbridge.db.postgres import migrate_pg
from callbridge.db.sqlite_thread import ThreadConnection

# Parents before children (foreign keys). The FTS tables are SQLite's own: PostgreSQL indexes
# the contacts themselves (pg_trgm).
TABLES = ("accounts", "api_keys", "admin_keys", "contact_id_counter", "contacts", "contact_phones",
          "deleted_contacts", "groups", "contact_groups", "extensions", "cdrs", "far_end_times",
          "call_holds", "call_hangups", "dialed_calls", "call_log", "cdr_csv_state",
          "event_counters", "events", "webhooks", "webhook_deliveries", "directory_version")
# Tables PostgreSQL's schema creates with their one row: replaced, not added to.
SINGLE_ROW = ("contact_id_counter", "directory_version")
# Columns whose ids come from a sequence in PostgreSQL: (table, column).
SEQUENCES = (("accounts", "id"), ("groups", "id"), ("contact_groups", "id"), ("extensions", "id"),
             ("cdrs", "id"), ("call_log", "rid"), ("webhooks", "id"), ("webhook_deliveries", "id"))
BATCH = 5000


class CopyError(Exception):
    pass


def _quoted(column: str) -> str:
    return f'"{column}"'


async def copy_sqlite_to_pg(source: Path, url: str,
                            progress: Callable[[str, int], None] = lambda table, rows: None
                            ) -> dict[str, int]:
    """Copies every table; returns the rows copied per table. progress(table, rows) after each
    batch. Refuses a target that already holds an account."""
    if not source.exists():
        raise CopyError(f"no SQLite database at {source}")
    # the source at the newest schema first (an older installation is migrated in place, as
    # `callbridge serve` would on start)
    await asyncio.to_thread(migrate, source)
    conn = await asyncpg.connect(url)
    try:
        await migrate_pg(conn)
        if await conn.fetchval("SELECT count(*) FROM accounts"):
            raise CopyError("the PostgreSQL database already holds accounts: copy into an empty"
                            " one (callbridge db copy never merges)")
        # on a thread of its own: an interrupted copy (Ctrl-C) closes it behind the read in flight
        lite = ThreadConnection(lambda: sqlite3.connect(
            f"file:{source}?mode=ro", uri=True, check_same_thread=False), name="db-copy")
        try:
            await lite.run(lambda c: c.execute("BEGIN"))  # one snapshot of the whole source
            counts: dict[str, int] = {}
            async with conn.transaction():
                for table in TABLES:
                    counts[table] = await _copy_table(lite, conn, table, progress)
                for table, column in SEQUENCES:
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                        f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
                for table, copied in counts.items():
                    stored = await conn.fetchval(f"SELECT count(*) FROM {table}")
                    if stored != copied:
                        raise CopyError(f"{table}: {copied} rows read, {stored} stored")
            # Statistics for the planner now, not when autovacuum gets round to it: a service
            # started right after a copy planned its reads on a never-analyzed table, and a
            # 1 M-contact list took 304 s instead of 5 (a scan per batch; docs/benchmarks.md).
            for table in TABLES:
                await conn.execute(f"ANALYZE {table}")
            return counts
        finally:
            await lite.aclose()
    finally:
        await conn.close()


async def _copy_table(lite: ThreadConnection, conn: asyncpg.Connection, table: str,
                      progress: Callable[[str, int], None]) -> int:
    target = [r["column_name"] for r in await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
        " AND table_schema = current_schema() AND is_generated = 'NEVER' ORDER BY ordinal_position",
        table)]
    have = {r[1] for r in await lite.run(
        lambda c: c.execute(f"PRAGMA table_info({table})").fetchall())}
    columns = [c for c in target if c in have]
    if table in SINGLE_ROW:
        await conn.execute(f"DELETE FROM {table}")
    cursor = await lite.run(
        lambda c: c.execute(f"SELECT {', '.join(map(_quoted, columns))} FROM {table}"))
    copied = 0
    while True:
        rows = await lite.run(lambda c: cursor.fetchmany(BATCH))
        if not rows:
            break
        try:
            await conn.copy_records_to_table(table, records=rows, columns=columns)
        except (asyncpg.PostgresError, asyncpg.DataError) as exc:
            raise CopyError(f"{table}: {exc}") from None
        copied += len(rows)
        progress(table, copied)
    return copied


def source_counts(source: Path) -> dict[str, int]:
    """Rows per table of the SQLite source (for the progress bar's length)."""
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        names = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: lite.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in TABLES if t in names}
    finally:
        lite.close()
