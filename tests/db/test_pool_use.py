"""Every PostgreSQL statement reaches the pool through PgDatabase.connection() or a transaction:
asyncpg's own pool.fetch/execute/acquire let a caller cancelled mid-connect leave an error nobody
retrieved (tests/db/test_cancel.py), and pool.release hands back a connection still in a
transaction."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "callbridge"
# the one module that owns the pool: it takes and gives back its connections itself
OWNER = SRC / "db" / "postgres.py"
DIRECT = re.compile(r"\.pool\.(fetch|fetchrow|fetchval|execute|executemany|acquire|copy_\w+)\(")


def test_no_module_but_the_engine_uses_the_pool_directly():
    found = [f"{path.relative_to(SRC)}:{n}: {line.strip()}"
             for path in sorted(SRC.rglob("*.py")) if path != OWNER
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if DIRECT.search(line)]
    assert found == []

