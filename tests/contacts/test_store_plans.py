"""Query plans that the speed targets depend on (a plan regression is minutes at 1M contacts)."""

from __future__ import annotations

import sqlite3

from callbridge.app import DATABASE
from callbridge.contacts import store


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
