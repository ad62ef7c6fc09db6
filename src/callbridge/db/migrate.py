"""Forward-only schema migrations: numbered .sql files applied in order, tracked by user_version.

Each file runs in one transaction together with the user_version bump, so a failed migration leaves
the database exactly at the previous version. Files are never edited once released: a schema change
is a new file.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid
from importlib import resources
from pathlib import Path

from callbridge.logs import event
from callbridge.phone import phone_key
from callbridge.text import fold

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available_migrations(package: str = "callbridge.db.migrations") -> list[tuple[int, str, str]]:
    """(number, filename, sql) for every migration in the package (SQLite's, or PostgreSQL's:
    callbridge.db.migrations_pg), in order; numbers must be 1..N."""
    files = []
    for entry in resources.files(package).iterdir():
        m = _NAME.match(entry.name)
        if m:
            files.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    files.sort()
    for expected, (number, name, _) in enumerate(files, start=1):
        if number != expected:
            raise RuntimeError(f"migration numbering gap: expected {expected:04d}, found {name}")
    return files


def _stored_key(number: str | None, region: str | None) -> str | None:
    """phone_key for a stored number; a value that isn't one stays as it was."""
    if not number:
        return number
    try:
        return phone_key(number, region or "US")
    except ValueError:
        return number


def migrate(path: Path | str, migrations: list[tuple[int, str, str]] | None = None,
            default_region: str = "US") -> int:
    """Bring the database at ``path`` to the newest schema; returns the resulting version.
    default_region: CALLBRIDGE_REGION, the home region of accounts that had none."""
    migrations = available_migrations() if migrations is None else migrations
    conn = sqlite3.connect(str(path), isolation_level=None)
    # Migrations that re-key stored data call the same Python functions the store writes with.
    conn.create_function("cb_fold", 1, fold, deterministic=True)
    conn.create_function("cb_phone_key", 2, _stored_key, deterministic=True)
    conn.create_function("cb_default_region", 0, lambda: default_region, deterministic=True)
    conn.create_function("cb_uuid4", 0, lambda: str(uuid.uuid4()))
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        newest = migrations[-1][0] if migrations else 0
        if current > newest:
            raise RuntimeError(
                f"database schema version {current} is newer than this callbridge knows ({newest}):"
                " refusing to run an older release against it"
            )
        for number, name, sql in migrations:
            if number <= current:
                continue
            try:
                conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {number};\nCOMMIT;")
            except Exception:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            event(log, "db.migrated", migration=name, version=number)
            current = number
        return current
    finally:
        conn.close()
