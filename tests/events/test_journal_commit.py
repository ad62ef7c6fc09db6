"""A journal COMMIT whose answer is lost (the server committed, then died before it said so, as
PostgreSQL restarting under load does): the events are published once and never stored twice
under new ids; a COMMIT that really failed stores them on the next pass, once."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest

from callbridge.accounts.store import AccountStore
from callbridge.db import database_for
from callbridge.errors import Unavailable
from callbridge.events.hub import EventHub
from callbridge.events.journal import EventJournal, draft
from tests.pg import fresh_database


class Collecting(EventHub):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def publish(self, events) -> None:
        events = list(events)
        self.seen += [e.id for e in events]
        super().publish(events)


@pytest.fixture
async def journal(tmp_path):
    db = database_for(fresh_database(tmp_path))
    await db.open()
    assert (await AccountStore(db).get_or_create_account("acme")).id == 1
    hub = Collecting()
    j = EventJournal(db, hub, retention_seconds=3600)
    if j.fanin is not None:  # PostgreSQL: publish straight to the hub, as one instance would
        j.fanin = None
    yield j, hub, db
    await db.close()


def _failing(db, *, committed: bool):
    """db.loop_transaction for one call: the transaction commits (committed) or rolls back,
    and then the caller hears the database went away."""
    real = db.loop_transaction

    @asynccontextmanager
    async def once():
        db.loop_transaction = real
        if committed:
            async with real() as tx:
                yield tx
        else:
            try:
                async with real() as tx:
                    yield tx
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
        raise Unavailable("the database is unreachable; retry", error="Database unavailable")
    db.loop_transaction = once


def _device_event(device: str):
    return draft(1, "device.state", {"extension": "309", "device": device, "state": "registered",
                                     "reason": "Created"}, extension="309")


async def _stored(db) -> list[tuple[int, str]]:
    return [(r[0], json.loads(r[1])["data"]["device"])
            for r in await db.fetchall("SELECT id, body FROM events ORDER BY id")]


@pytest.mark.parametrize("committed", [True, False])
async def test_a_commit_whose_answer_was_lost_stores_and_publishes_once(journal, committed):
    j, hub, db = journal
    for device in ("c1", "c2"):
        j.emit(_device_event(device))
    _failing(db, committed=committed)
    with pytest.raises(Unavailable):
        await j.flush()
    assert hub.seen == []  # not published while it is unknown whether they were stored
    j.emit(_device_event("c3"))
    await j.flush()
    assert await _stored(db) == [(1, "c1"), (2, "c2"), (3, "c3")]
    assert hub.seen == [1, 2, 3]
    await j.flush()  # nothing left over
    assert hub.seen == [1, 2, 3]
