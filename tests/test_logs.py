"""A background writer's failed pass: an expected one (a dependency away, a row another
instance wrote first) is one WARNING line; anything else is an ERROR with its traceback."""

from __future__ import annotations

import logging

import pytest

from callbridge.db import database_for
from callbridge.errors import Conflict, Unavailable
from callbridge.logs import background_failure
from tests.pg import engine, fresh_database


@pytest.mark.parametrize("exc, level", [
    (Unavailable("the database is unreachable; retry"), logging.WARNING),
    (Conflict("written meanwhile"), logging.ERROR),
])
def test_what_a_failed_pass_logs(caplog, exc, level):
    caplog.set_level(logging.DEBUG)
    background_failure(logging.getLogger("t"), f"t.failed_{level}", exc)
    assert [r.levelno for r in caplog.records] == [level]


@pytest.mark.skipif(engine() != "postgresql", reason="PostgreSQL only: instances racing on rows")
async def test_a_row_another_instance_wrote_first_is_a_warning_not_an_error(tmp_path, caplog):
    db = database_for(fresh_database(tmp_path))
    await db.open()
    try:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO accounts(name, region, uuid, created_at)"
                             " VALUES ('a', 'US', 'u1', 'now')")
        with pytest.raises(Conflict) as raised:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO accounts(name, region, uuid, created_at)"
                                 " VALUES ('a', 'US', 'u2', 'now')")
    finally:
        await db.close()
    assert raised.value.sqlstate == "23505"
    background_failure(logging.getLogger("t"), "t.unique", raised.value)
    assert [r.levelno for r in caplog.records if r.name == "t"] == [logging.WARNING]
