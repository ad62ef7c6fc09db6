"""What the stores see of a database: one typed interface both engines implement (SQLite:
callbridge.db.database, PostgreSQL: callbridge.db.postgres). Stores write their SQL once with
`?` / `:name` parameters and branch on `engine` only where the engines' SQL differs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from callbridge.db.listener import PgListener

# A row read back: sqlite3.Row or asyncpg.Record, both indexed by position and by column name.
Row = Any
Params = Sequence[Any] | Mapping[str, Any]


# Values of one IN (…) list: SQLite caps a statement's parameters (999 before 3.32), and a
# statement takes a few besides the list.
IN_LIST_SIZE = 400


def in_chunks(items: Sequence[Any], size: int = IN_LIST_SIZE) -> list[Sequence[Any]]:
    """items cut into IN lists of at most size values, in order."""
    return [items[i:i + size] for i in range(0, len(items), size)]


# What a command that does not create databases says when there is none where it points.
NOT_CREATED_HINT = ("`callbridge db init` creates it, and the service creates it on its first"
                    " start; or set CALLBRIDGE_DATABASE to the service's database")


class Tx(Protocol):
    """A write transaction's handle (a store's functions that write take one)."""

    @property
    def engine(self) -> str: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Runs a statement; the number of rows it changed."""

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Inserts one row; its id."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    def savepoint(self, name: str = "part") -> AbstractAsyncContextManager[None]: ...


class Snapshot(Protocol):
    """A read-only view of one moment of the data (a long stream reads through one)."""

    @property
    def engine(self) -> str: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def value(self, sql: str, params: Params = ()) -> Any: ...


class Db(Protocol):
    @property
    def engine(self) -> str:
        """"sqlite" or "postgresql"."""

    @property
    def path(self) -> Path | str:
        """What messages name: the SQLite file, or the URL without its password."""

    @property
    def default_region(self) -> str: ...

    @property
    def listener(self) -> PgListener | None:
        """The instance's LISTEN connection (PostgreSQL); None on SQLite (one process)."""

    async def open(self, create: bool = True) -> bool: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    def loop_transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A short write transaction run without leaving the event loop where the engine can
        (SQLite); the same as transaction() on PostgreSQL."""

    def snapshot(self) -> AbstractAsyncContextManager[Snapshot]: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def lookup(self, sql: str, params: Params = ()) -> list[Row]:
        """A point lookup, the cheapest way the engine has."""
