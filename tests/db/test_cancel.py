"""A write cancelled anywhere (a clean stop, a client that went away) writes all of itself or
nothing, reports nothing to the loop's exception handler, and leaves the database usable: on
PostgreSQL a connection cancelled during its COMMIT was once handed back to the pool still in
its transaction (asyncpg logged "Resetting connection with an active transaction" at a clean
stop of an ingesting instance)."""

from __future__ import annotations

import asyncio

import pytest

from callbridge.db import database_for
from tests.pg import engine, fresh_database

# on PostgreSQL the COMMIT itself is made slow (a deferred trigger sleeps), so that a cancel
# lands in it
SLOW_COMMIT = """
CREATE FUNCTION probe_slow() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER probe_slow AFTER INSERT ON probe DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.n = 2) EXECUTE FUNCTION probe_slow();
"""


@pytest.mark.parametrize("path", ["transaction", "loop_transaction", "snapshot"])
async def test_a_write_cancelled_at_any_point_is_whole_or_absent_and_reports_nothing(
        tmp_path, path):
    db = database_for(fresh_database(tmp_path))
    await db.open()
    reported: list[dict] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE probe (k INTEGER NOT NULL, n INTEGER NOT NULL)")
        if engine() == "postgresql":
            async with db.pool.acquire() as conn:
                await conn.execute(SLOW_COMMIT)

        async def write(k: int) -> None:
            if path == "snapshot":  # a reader cancelled mid-read: nothing to write
                async with db.snapshot() as snap:
                    await snap.fetchall("SELECT count(*) FROM probe")
                    await asyncio.sleep(0.01)
                return
            async with getattr(db, path)() as tx:
                await tx.execute("INSERT INTO probe (k, n) VALUES (?, 1)", (k,))
                await asyncio.sleep(0)
                await tx.execute("INSERT INTO probe (k, n) VALUES (?, 2)", (k,))

        cancelled = 0
        # cancel after 0, 1, 2 … loop turns, then inside the (slow, on PostgreSQL) COMMIT
        delays = [None] * 12 + [0.01, 0.03, 0.06, 0.08]
        for k, delay in enumerate(delays):
            task = asyncio.create_task(write(k))
            if delay is None:
                for _ in range(k):
                    await asyncio.sleep(0)
            else:
                await asyncio.sleep(delay)
            task.cancel()
            try:
                await asyncio.wait_for(task, 15)
            except asyncio.CancelledError:
                cancelled += 1
        assert cancelled >= 8  # the loop-turn cancels land before the write ends
        rows = await db.fetchall("SELECT k, count(*) FROM probe GROUP BY k")
        assert all(count == 2 for _, count in rows), rows  # whole or absent
        async with db.transaction() as tx:  # the writer and the pool are usable afterwards
            await tx.execute("INSERT INTO probe (k, n) VALUES (100, 1)")
        assert await db.fetchall("SELECT k FROM probe WHERE k = 100")
        await asyncio.sleep(0.1)  # a release that logs does so on its way back to the pool
        assert reported == []
    finally:
        loop.set_exception_handler(None)
        await db.close()
