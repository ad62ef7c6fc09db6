"""Query plans that the speed targets depend on (a plan regression is minutes at 1M contacts)."""

from __future__ import annotations

import sqlite3

import pytest

from callbridge.app import DATABASE
from callbridge.contacts import store
from tests.conftest import sqlite_only
from tests.pg import engine


@sqlite_only("FTS5's query plan; PostgreSQL's trigram indexes are checked below")
async def test_substring_searches_drive_from_the_trigram_index(api, monkeypatch):
    db = api.app[DATABASE]
    seen: list[str] = []
    real = db.fetchall

    async def spy(sql, params=()):
        if "_fts MATCH" in sql:
            seen.append(sql)
            plan = await real("EXPLAIN QUERY PLAN " + sql, params)
            first = [r[3] for r in plan][0]
            assert first.startswith("SCAN f VIRTUAL TABLE"), plan
            assert "CROSS JOIN" in sql
        return await real(sql, params)

    monkeypatch.setattr(db, "fetchall", spy)
    await api.ok("POST", "/contacts/contacts", json={"firstname": "Ann", "mobile_phone": "5551234567"})
    await api.ok("POST", "/contacts/contacts/search/mobile/like", json={"mobile_phone": "1234"})
    await api.ok("POST", "/contacts/contacts/search", json={"searchString": "ann"})
    await api.ok("POST", "/contacts/contacts/search", json={"searchString": "555-1234"})
    assert len(seen) == 3


def test_prefix_range_is_an_index_range():
    lo, hi = store.prefix_range("Jo")
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(n TEXT COLLATE NOCASE)")
    conn.executemany("INSERT INTO t VALUES (?)", [("john",), ("JOAN",), ("jp",), ("j",), ("Jo",)])
    got = sorted(r[0] for r in conn.execute("SELECT n FROM t WHERE n >= ? AND n < ?", (lo, hi)))
    assert got == ["JOAN", "Jo", "john"]


@pytest.mark.skipif(engine() != "postgresql", reason="PostgreSQL's plan (run with TEST_ENGINE)")
async def test_substring_searches_can_be_served_by_the_trigram_indexes_on_postgresql(api, monkeypatch):
    """Each substring search is planned from its pg_trgm index, at a size where a scan would
    cost (50k contacts, none matching but the one the test makes)."""
    db = api.app[DATABASE]
    await api.ok("POST", "/contacts/contacts", json={"firstname": "Ann", "mobile_phone": "5551234567"})
    async with db.transaction() as tx:
        account_id = (await tx.fetchone("SELECT account_id FROM contacts"))[0]
        await tx.execute(
            "INSERT INTO contacts(id, account_id, uuid, firstname, firstname_key, mobile_phone,"
            " version, created_at, updated_at) SELECT 1000 + n, ?, 'u' || n, 'Zed' || n,"
            " 'zed' || n, '9' || lpad(n::text, 9, '0'), 1, '', '' FROM generate_series(1, 50000) n",
            (account_id,))
        await tx.execute("ANALYZE contacts")
    plans: list[str] = []
    real = db.fetchall

    async def spy(sql, params=()):
        if "LIKE" in sql:
            plans.append("\n".join(r[0] for r in await real("EXPLAIN " + sql, params)))
        return await real(sql, params)

    monkeypatch.setattr(db, "fetchall", spy)
    await api.ok("POST", "/contacts/contacts/search/mobile/like", json={"mobile_phone": "1234"})
    await api.ok("POST", "/contacts/contacts/search", json={"searchString": "ann"})
    await api.ok("POST", "/contacts/contacts/search", json={"searchString": "555-1234"})
    assert len(plans) == 3
    assert "contacts_mobile_search" in plans[0], plans[0]
    assert "contacts_search" in plans[1], plans[1]
    assert "contacts_search" in plans[2] and "contacts_phones_search" in plans[2], plans[2]
