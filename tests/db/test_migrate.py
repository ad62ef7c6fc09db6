"""Forward-only migrations: applied in order, once, atomically; a newer schema is refused."""

from __future__ import annotations

import sqlite3

import pytest

from callbridge.db.migrate import available_migrations, migrate


def _version(path):
    with sqlite3.connect(path) as c:
        return c.execute("PRAGMA user_version").fetchone()[0]


def _tables(path):
    with sqlite3.connect(path) as c:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_fresh_database_reaches_newest_version_and_rerun_is_a_noop(tmp_path):
    db = tmp_path / "a.db"
    newest = available_migrations()[-1][0]
    assert migrate(db) == newest
    assert _version(db) == newest
    assert {"accounts", "api_keys", "contacts", "groups", "contact_groups", "deleted_contacts"} <= _tables(db)
    assert migrate(db) == newest


def test_older_database_gets_only_the_missing_steps(tmp_path):
    db = tmp_path / "b.db"
    steps = [(1, "0001_a.sql", "CREATE TABLE a(x);"), (2, "0002_b.sql", "CREATE TABLE b(x);")]
    assert migrate(db, steps[:1]) == 1
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO a VALUES (42)")
    assert migrate(db, steps) == 2
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT x FROM a").fetchall() == [(42,)]  # data kept
    assert {"a", "b"} <= _tables(db)


def test_failing_migration_leaves_previous_version_intact(tmp_path):
    db = tmp_path / "c.db"
    good = (1, "0001_a.sql", "CREATE TABLE a(x);")
    bad = (2, "0002_b.sql", "CREATE TABLE b(x); INSERT INTO nowhere VALUES (1);")
    migrate(db, [good])
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, [good, bad])
    assert _version(db) == 1 and "b" not in _tables(db)


def test_newer_schema_than_known_is_refused(tmp_path):
    db = tmp_path / "d.db"
    migrate(db)
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA user_version = 999")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(db)


def test_packaged_migrations_are_numbered_without_gaps():
    numbers = [n for n, _, _ in available_migrations()]
    assert numbers == list(range(1, len(numbers) + 1))
