from pathlib import Path
from typing import Any

from callbridge.db.database import Database
from callbridge.db.interface import Db, Params, Row, Snapshot, Tx, in_chunks
from callbridge.db.migrate import migrate
from callbridge.db.postgres import PgDatabase, is_postgres_url, redacted

__all__ = ["Database", "Db", "Params", "PgDatabase", "Row", "Snapshot", "Tx", "database_for",
           "database_shown", "in_chunks", "is_postgres_url", "migrate"]


def database_for(target: str | Path, pool_size: int = 10, **options: Any) -> Db:
    """The engine CALLBRIDGE_DATABASE names: a postgresql:// URL (pool_size connections), else
    a SQLite file."""
    if is_postgres_url(str(target)):
        return PgDatabase(str(target), pool_size=pool_size, **options)
    return Database(target, **options)


def database_shown(target: str | Path) -> str:
    """CALLBRIDGE_DATABASE as logs show it: the SQLite file's full path, or the URL without its
    password."""
    if is_postgres_url(str(target)):
        return redacted(str(target))
    return str(Path(target).resolve())
