"""A constraint the services' checks missed is a Conflict (409) from the database layer, in both
engines and both of SQLite's write paths: the rooms never see a driver's exception."""

from __future__ import annotations

import pytest

from callbridge.db import database_for
from callbridge.errors import Conflict
from tests.pg import fresh_database


@pytest.mark.parametrize("path", ["transaction", "loop_transaction"])
async def test_a_unique_violation_is_a_conflict_and_writes_nothing(tmp_path, path):
    db = database_for(fresh_database(tmp_path))
    await db.open()
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE probe (k TEXT UNIQUE, n INTEGER NOT NULL)")
        write = getattr(db, path)
        with pytest.raises(Conflict) as caught:
            async with write() as tx:
                await tx.execute("INSERT INTO probe (k, n) VALUES ('a', 1)")
                await tx.execute("INSERT INTO probe (k, n) VALUES ('a', 2)")
        assert caught.value.status == 409 and caught.value.sqlstate == "23505"
        assert await db.fetchall("SELECT k FROM probe") == []  # the first insert rolled back too
        with pytest.raises(Conflict) as caught:  # not a unique key: no 23505
            async with write() as tx:
                await tx.execute("INSERT INTO probe (k, n) VALUES ('b', NULL)")
        assert caught.value.sqlstate != "23505"
        async with write() as tx:  # the writer was given back: writes go on
            await tx.execute("INSERT INTO probe (k, n) VALUES ('a', 3)")
        assert [tuple(r) for r in await db.fetchall("SELECT k, n FROM probe")] == [("a", 3)]
    finally:
        await db.close()
