"""The PostgreSQL engine (CALLBRIDGE_DATABASE=postgresql://…): the interface of
callbridge.db.database.Database over an asyncpg pool, for several callbridge instances on one
database.

The stores write their SQL once, with SQLite's placeholders (``?`` and ``:name``); this module
numbers them ($1, $2 …) for PostgreSQL. Where the two engines' SQL really differs (substring
search, id allocation) the store says so itself, by ``db.engine``.

Writes of one process still go one at a time (as on SQLite), so a service's check-then-write
(a group name taken?) sees no writer of its own process in between; other instances are kept
out where it matters by row locks (the per-account counters) and transaction-scoped advisory
locks (the call log's rids).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from callbridge.db.database import Savepoints, to_the_end, write_turn
from callbridge.db.interface import NOT_CREATED_HINT, Params
from callbridge.db.listener import PgListener
from callbridge.db.migrate import available_migrations
from callbridge.errors import Conflict, InvalidInput, Unavailable
from callbridge.logs import event
from callbridge.settings import ConfigError

log = logging.getLogger("callbridge.db")

WRITE_WAIT_SECONDS = 10.0
CLOSE_WAIT = 5.0
# pg_advisory_lock key held while migrating: instances starting together migrate once
MIGRATION_LOCK = 0x6362_6d67
# Quoted text, casts and placeholders, in one pass: a ? or :name inside a string is text.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?|(?<![:\w]):([A-Za-z_]\w*)")


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """The URL without its password, for logs and /status."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache(maxsize=2048)
def numbered(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """(PostgreSQL SQL, names of :name parameters in $ order, or None for ? parameters)."""
    names: list[str] = []
    count = 0

    def swap(m: re.Match) -> str:
        nonlocal count
        token = m.group(0)
        if token == "?":
            count += 1
            return f"${count}"
        name = m.group(1)
        if name is None:
            return token  # a string, a quoted name or a cast
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    out = _TOKENS.sub(swap, sql)
    if names and count:
        raise ValueError("one statement uses ? or :name parameters, not both")
    return out, (tuple(names) if names else None)


def _args(names: tuple[str, ...] | None, params: Params) -> Sequence[Any]:
    if names is None:
        assert not isinstance(params, Mapping), "named parameters need :name marks"
        args: Sequence[Any] = params
    else:
        assert isinstance(params, Mapping), ":name marks need named parameters"
        args = [params[n] for n in names]
    for value in args:
        if isinstance(value, str) and not _storable(value):
            # SQLite stores a NUL; PostgreSQL's text can't, nor can UTF-8 a lone surrogate.
            # Whatever request carried it is refused, as an unknown name would be.
            raise InvalidInput("text must not contain NUL characters or lone surrogates",
                               error="Invalid text")
    return args


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """The database gone (refused, reset, restarting, out of connections): a 503 the client may
    retry, not a 500. A failed transaction was rolled back by PostgreSQL: nothing half-written."""
    try:
        yield
    except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError) as exc:
        if isinstance(exc, asyncpg.DataError) or (
                isinstance(exc, asyncpg.InterfaceError) and "another operation" in str(exc)):
            raise  # a programming error, not an outage
        raise Unavailable("the database is unreachable; retry",
                          error="Database unavailable") from exc


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection needs before the pool hands it out again. asyncpg's default (RESET
    ALL, UNLISTEN, advisory unlocks: a round trip on every release) undoes session state the
    stores never set: they take only transaction-scoped locks and LISTEN on a connection of
    their own (db.listener)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def _taken(pool: asyncpg.Pool) -> asyncpg.Connection:
    """pool.acquire(), run to its end even when the caller is cancelled meanwhile; the connection
    then goes straight back. Cancelled while opening a new connection (the TCP connect, the TLS
    probe, authentication), asyncpg was left a future whose error nobody retrieved, which asyncio
    logs as an error (1,039 of 1,200 such cancels in tests/db/test_cancel.py before this)."""
    step = asyncio.ensure_future(pool.acquire())
    try:
        return await to_the_end(step)
    except asyncio.CancelledError:
        if step.done() and not step.cancelled() and step.exception() is None:
            await to_the_end(pool.release(step.result()))
        raise


def _open_transaction(conn: asyncpg.Connection) -> bool:
    """Whether conn is still inside a transaction: by the server's last word, or by asyncpg's
    own record of one (a BEGIN that failed leaves it). Exactly what asyncpg's reset checks
    before it logs "Resetting connection with an active transaction" as an error."""
    return conn.is_in_transaction() or getattr(conn, "_top_xact", None) is not None


async def _rollback(tx: Any) -> None:
    """Ends tx (an asyncpg Transaction) by ROLLBACK, through tx itself so that its connection
    no longer counts it as open. A transaction that never started, or a connection that broke
    meanwhile, has nothing to end here: release() discards a broken connection."""
    try:
        await tx.rollback()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        pass


# A table with at least this many rows and no statistics is analyzed at start (below it, a plan
# on no statistics costs little).
UNPLANNED_ROWS = 10_000


async def _analyze_unplanned(conn: asyncpg.Connection, where: str) -> None:
    """ANALYZE the tables that hold rows but were never analyzed: a database bulk-loaded by other
    means than `callbridge db copy` (pg_restore, an operator's own COPY) has no statistics until
    autovacuum gets round to it, and a 1 M-contact list planned on none took 304 s instead of
    5 (docs/benchmarks.md). Each ANALYZE samples a fixed number of rows: about a second at 1 M."""
    never = await conn.fetch(  # reltuples -1: never analyzed nor vacuumed (PostgreSQL ≥ 14)
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.reltuples < 0")
    for (table,) in never:
        quoted = '"' + table.replace('"', '""') + '"'  # a name from the catalogue
        # counted up to the threshold (the statistics views lag behind a load just done)
        held = await conn.fetchval(f"SELECT count(*) FROM (SELECT 1 FROM {quoted} LIMIT $1) t",
                                   UNPLANNED_ROWS)
        if held >= UNPLANNED_ROWS:
            await conn.execute(f"ANALYZE {quoted}")
            event(log, "db.analyzed", database=where, table=table)


def _count(status: str) -> int:
    """Rows a statement changed, from its command tag ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgDatabase:
    engine = "postgresql"

    def __init__(self, url: str, write_wait: float = WRITE_WAIT_SECONDS,
                 default_region: str = "US", pool_size: int = 10):
        self.url = url
        self.path = redacted(url)  # what messages name (Database.path is the SQLite file)
        self.default_region = default_region
        self.write_wait = write_wait
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._write_lock = asyncio.Lock()
        # the instance's LISTEN connection: rooms register their channels before open()
        self.listener = PgListener(url)

    async def open(self, create: bool = True) -> bool:
        """Connects and migrates; True when the schema was created now. With create False, a
        database without callbridge's schema is a ConfigError (see Database.open)."""
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self.pool_size, reset=_reset,
                # statement cache per connection: the stores' SQL is a fixed set
                statement_cache_size=512, command_timeout=60)
            async with self._pool.acquire() as conn:
                if not create and await conn.fetchval(
                        "SELECT to_regclass('schema_version') IS NULL"):
                    raise LookupError
                created = await migrate_pg(conn)
                await _analyze_unplanned(conn, self.path)
        except LookupError:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
            raise ConfigError(f"CALLBRIDGE_DATABASE: {self.path} has no callbridge schema"
                              f" ({NOT_CREATED_HINT})") from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError,
                RuntimeError) as exc:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
            raise ConfigError(f"CALLBRIDGE_DATABASE: cannot open {self.path}: {exc}") from None
        if created:
            event(log, "db.created", database=self.path)
        await self.listener.start()
        return created

    async def close(self) -> None:
        """Closes every connection: gracefully for CLOSE_WAIT seconds, then by force (a
        connection some task still holds must not keep the process from exiting)."""
        await self.listener.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), CLOSE_WAIT)
            except (TimeoutError, asyncpg.PostgresError, OSError):
                pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "database not open"
        return self._pool

    def _writing(self):
        return write_turn(self._write_lock, self.write_wait)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection outside any transaction (each statement commits by itself): the
        way every statement reaches the pool. Taking and giving back each run to their end even
        when the caller is cancelled meanwhile (_taken, _give_back)."""
        conn = await _taken(self.pool)
        try:
            yield conn
        finally:
            await self._give_back(conn)

    async def _give_back(self, conn: asyncpg.Connection) -> None:
        """Returns conn to the pool, unless a transaction is still open on it (its COMMIT or
        ROLLBACK failed or was cut short): such a connection is closed instead, which ends the
        transaction on the server, and the pool opens a fresh one when it needs one. Handed
        back, asyncpg would roll it back itself but log an error doing so."""
        if not conn.is_closed() and _open_transaction(conn):
            event(log, "db.connection_discarded", logging.WARNING, database=self.path,
                  reason="a transaction was still open when the connection was given back")
            conn.terminate()
        await to_the_end(self.pool.release(conn))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTx]:
        try:
            async with _reachable(), self._writing(), self._held(None) as conn:
                yield PgTx(conn)
        except asyncpg.IntegrityConstraintViolationError as exc:
            # a row another instance wrote between this one's check and its write (one process
            # checks and writes under its own write lock; instances don't share it)
            kind = type(exc).__name__
            conflict = Conflict(f"the change conflicts with data written meanwhile ({kind});"
                                " retry")
            conflict.sqlstate = exc.sqlstate  # what logs.background_failure tells apart
            raise conflict from None

    @asynccontextmanager
    async def _held(self, isolation: str | None, readonly: bool = False,
                    keep: bool = True) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction (isolation None: the server's default level),
        committed (keep) or rolled back at the end.

        asyncpg's own ``async with conn.transaction()`` is not used: a task cancelled during its
        COMMIT (a clean stop, a client that went away) hands the pool a connection still in the
        transaction, and asyncpg logs that as an error. Here the BEGIN, the COMMIT or ROLLBACK and
        the release each run to their end even when the caller is cancelled meanwhile; the
        cancellation is raised after them."""
        async with self.connection() as conn:
            tx = conn.transaction(isolation=isolation, readonly=readonly)
            try:
                await to_the_end(tx.start())
            except BaseException:
                await to_the_end(_rollback(tx))  # a BEGIN that ended after a cancel
                raise
            try:
                yield conn
            except BaseException:
                await to_the_end(_rollback(tx))
                raise
            if keep:
                await to_the_end(tx.commit())
            else:
                await to_the_end(_rollback(tx))

    loop_transaction = transaction  # no loop-thread shortcut here: asyncpg never leaves the loop

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        text, names = numbered(sql)
        async with _reachable(), self.connection() as conn:
            return await conn.fetch(text, *_args(names, params))

    async def fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        text, names = numbered(sql)
        async with _reachable(), self.connection() as conn:
            return await conn.fetchrow(text, *_args(names, params))

    lookup = fetchall  # a point lookup is one round trip either way

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PgSnapshot]:
        """A read-only REPEATABLE READ transaction: every read sees one moment of the data.

        A stream cancelled mid-read (a CRM that gave up) still rolls the transaction back and
        returns the connection (see _held)."""
        async with _reachable(), self._held("repeatable_read", readonly=True, keep=False) as conn:
            yield PgSnapshot(conn)


class PgSnapshot:
    engine = "postgresql"

    def __init__(self, conn: asyncpg.Connection):
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        text, names = numbered(sql)
        return await self._conn.fetch(text, *_args(names, params))

    async def value(self, sql: str, params: Params = ()) -> Any:
        text, names = numbered(sql)
        return await self._conn.fetchval(text, *_args(names, params))


class PgTx(Savepoints):
    engine = "postgresql"

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        text, names = numbered(sql)
        return _count(await self.conn.execute(text, *_args(names, params)))

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Inserts one row; returns its id (every table inserted this way has an id column)."""
        text, names = numbered(sql + " RETURNING id")
        return await self.conn.fetchval(text, *_args(names, params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            text, names = numbered(sql)
            await self.conn.executemany(text, [_args(names, r) for r in rows])

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        text, names = numbered(sql)
        return await self.conn.fetch(text, *_args(names, params))

    async def fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        text, names = numbered(sql)
        return await self.conn.fetchrow(text, *_args(names, params))


async def migrate_pg(conn: asyncpg.Connection) -> bool:
    """Brings the schema to the newest version, each migration in one transaction with its
    version bump; instances starting together take turns (a session advisory lock). True when
    the schema was created now."""
    migrations = available_migrations("callbridge.db.migrations_pg")
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
        newest = migrations[-1][0] if migrations else 0
        if current > newest:
            raise RuntimeError(
                f"database schema version {current} is newer than this callbridge knows"
                f" ({newest}): refusing to run an older release against it")
        for number, name, sql in migrations:
            if number <= current:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_version VALUES ($1)", number)
            event(log, "db.migrated", migration=name, version=number, engine="postgresql")
        return current == 0
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
