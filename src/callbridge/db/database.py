"""The SQLite database: one writer connection behind a lock, one reader connection, WAL mode.

SQLite allows one writer at a time; serialising write transactions in-process (instead of letting
them collide on SQLITE_BUSY) keeps every write one short ``BEGIN IMMEDIATE … COMMIT`` and makes the
per-account version counter trivially monotonic. Readers never block the writer in WAL mode.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from callbridge.db.interface import NOT_CREATED_HINT, Params
from callbridge.db.migrate import migrate
from callbridge.db.sqlite_thread import ThreadConnection
from callbridge.errors import Conflict, StorageFull, Unavailable
from callbridge.logs import event
from callbridge.settings import ConfigError

log = logging.getLogger("callbridge.db")

# A result row: sqlite3.Row here, asyncpg.Record on PostgreSQL; both index by name and position
# and turn into a dict with dict(row).
Row = Any

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a committed transaction survives power loss, not only a process crash. Call-log rows
    # and contact edits are small; the fsync per commit is worth it.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    # Reads through a memory map skip a pread() syscall per page: random point lookups over a
    # large contacts table measured 23 -> 16 us. Address space, not RSS: pages are the OS cache's.
    "PRAGMA mmap_size=1073741824",
    "PRAGMA cache_size=-32768",  # 32 MiB of page cache per connection (default is 2 MiB)
)


def _plain_connection(path: Path, *pragmas: str, **options: Any) -> sqlite3.Connection:
    """A sqlite3 connection used on the event loop thread itself (point lookups, batches)."""
    conn = sqlite3.connect(str(path), isolation_level=None, **options)
    conn.row_factory = sqlite3.Row
    for pragma in (*_PRAGMAS, *pragmas):
        conn.execute(pragma)
    return conn


# How long a write waits for the one writer before giving up with a 503: nothing awaits forever
# (a writer stuck behind a stalled disk must not hold every request that wants to write).
WRITE_WAIT_SECONDS = 10.0


class Database:
    engine = "sqlite"  # stores choose their engine's SQL by it, where the two differ
    listener = None    # one process: nobody else's changes to hear of

    def __init__(self, path: Path | str, write_wait: float = WRITE_WAIT_SECONDS,
                 default_region: str = "US"):
        self.path = Path(path)
        self.default_region = default_region  # CALLBRIDGE_REGION: new accounts' home region
        self.write_wait = write_wait
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._point_reader: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._batch_conn: sqlite3.Connection | None = None  # loop_transaction(): on the loop thread
        # where loop_transaction()'s COMMIT waits for its fsync, the loop meanwhile free (one
        # worker: commits of the one writer connection never overlap)
        self._committer: ThreadPoolExecutor | None = None

    async def open(self, create: bool = True) -> bool:
        """Opens (creating and migrating as needed); True when the file was created now.
        A file that can't be opened, created or migrated is a ConfigError naming the setting;
        so is a missing file when create is False (the CLI's data commands: a typo'd path or
        another folder must not fill a new, empty database the service never reads)."""
        created = not self.path.exists()
        if created and not create:
            raise ConfigError(f"CALLBRIDGE_DATABASE: no database at {self.path.resolve()}"
                              f" ({NOT_CREATED_HINT})")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(migrate, self.path, None, self.default_region)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"CALLBRIDGE_DATABASE: cannot open {self.path.resolve()}:"
                              f" {getattr(exc, 'strerror', None) or exc}") from None
        if created:
            event(log, "db.created", path=str(self.path.resolve()))
        self._writer = await self._connect()
        self._reader = await self._connect()
        await self._reader.execute("PRAGMA query_only=ON")
        # the loop thread's own (check_same_thread stays on: another thread's use is an error,
        # never a silent race)
        self._point_reader = _plain_connection(self.path, "PRAGMA query_only=ON",
                                               cached_statements=256)
        return created

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly the
        # block inside transaction() and nothing is left implicitly open.
        conn = await aiosqlite.connect(str(self.path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            await conn.execute(pragma)
        return conn

    async def close(self) -> None:
        self._close_batch_conn()
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        if self._point_reader is not None:
            self._point_reader.close()
        self._writer = self._reader = self._point_reader = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["SqliteTx"]:
        """One write transaction. Everything inside commits together or not at all."""
        assert self._writer is not None, "database not open"
        writer = self._writer
        # BEGIN, COMMIT and ROLLBACK run to their end even when the caller is cancelled
        # meanwhile (the writer's thread runs them anyway): otherwise a cancel during BEGIN left
        # the writer in a transaction nobody ended, and one during COMMIT queued a ROLLBACK
        # behind it (and read in_transaction while the thread was committing).
        async with self._writing(), _disk_full_is_507(), _constraint_is_conflict():
            try:
                await to_the_end(_statement(writer, "BEGIN IMMEDIATE"))
            except BaseException:
                await to_the_end(_rollback(writer))  # a BEGIN that ended after a cancel
                raise
            try:
                yield SqliteTx(writer)
                await to_the_end(_statement(writer, "COMMIT"))
            except BaseException:
                # (a failed COMMIT leaves the transaction open; SQLITE_FULL may have ended it)
                await to_the_end(_rollback(writer))
                raise

    def _writing(self):
        return write_turn(self._write_lock, self.write_wait)

    @asynccontextmanager
    async def loop_transaction(self) -> AsyncIterator["LoopTx"]:
        """transaction() run on the loop thread's own connection: the same
        store functions, without a thread hop per statement. For bulk writes through the
        normal write path (a contacts import: ~12 statements per contact, where the hops
        cost ten times the SQL), and for the call log and event journal under a burst of events.

        Both thread paths were measured losing there: transaction() costs a loop round trip per
        statement, and a worker thread stalls on the GIL while the loop parses events: sqlite3
        releases it around every row of an executemany, and each re-take can wait the 5 ms
        switch interval (one 300-row flush took 1.8 s). Keep each transaction small (bounded
        batches, indexed lookups): it holds the loop."""
        async with self._writing(), _disk_full_is_507(), _constraint_is_conflict():
            if self._batch_conn is None:
                # check_same_thread off for the COMMIT on the committer thread; the write lock
                # and the wait below keep every use of the connection one after another
                self._batch_conn = _plain_connection(self.path, check_same_thread=False)
                self._committer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
            conn = self._batch_conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield LoopTx(conn)
                await self._commit(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    async def _commit(self, conn: sqlite3.Connection) -> None:
        """COMMIT on the committer thread: its fsync (synchronous=FULL) releases the GIL, so the
        loop goes on reading AMI events meanwhile (measured in bench/calllog_replay.py). A
        cancelled caller still waits for the COMMIT to finish before anything else touches the
        connection (its ROLLBACK on the loop would otherwise run beside it)."""
        assert self._committer is not None
        done = asyncio.get_running_loop().run_in_executor(self._committer, conn.execute, "COMMIT")
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            while not done.done():  # bounded by the COMMIT itself, which can't be stopped
                try:
                    await asyncio.wait([done])
                except asyncio.CancelledError:
                    continue
            raise

    def _close_batch_conn(self) -> None:
        if self._batch_conn is not None:
            self._batch_conn.close()
            self._batch_conn = None
        if self._committer is not None:
            self._committer.shutdown(wait=True)  # idle: every COMMIT was awaited
            self._committer = None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        assert self._reader is not None, "database not open"
        return list(await self._reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def lookup(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """A read run right here on the event loop, for index point lookups only.

        Such a query takes tens of microseconds; handing it to aiosqlite's thread and back costs
        several times that, and it is the hot path of screen-pop and CRM lookups. Anything that
        can scan (lists, searches, sync) must use fetchall() instead, which never blocks the loop.
        """
        assert self._point_reader is not None, "database not open"
        return self._point_reader.execute(sql, params).fetchall()


    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator["SqliteSnapshot"]:
        """A read transaction on a connection of its own: every read through it sees the database
        as it was at the first one, however many batches a long read takes (a whole-account sync
        streamed for seconds while writes go on). Reads run in a worker thread, never on the loop."""
        # No memory map and a small page cache: a whole-account read touches every page once, so
        # mmap would only put the whole file into this process's RSS (pread + 8 MiB is as fast).
        # Its own thread (ThreadConnection): a stream cancelled mid-read must not close the
        # connection while a worker still steps a statement on it.
        conn = ThreadConnection(lambda: _plain_connection(
            self.path, "PRAGMA query_only=ON", "PRAGMA mmap_size=0", "PRAGMA cache_size=-8192",
            check_same_thread=False), name="snapshot")
        try:
            await conn.run(lambda c: c.execute("BEGIN"))
            yield SqliteSnapshot(conn)
        finally:
            # closing ends the read transaction: aclose() queues the close behind any read in
            # flight before its first await, so a caller cancelled here still closes it
            await conn.aclose()


# How long a cancelled caller waits for its connection's BEGIN, COMMIT, ROLLBACK (or, on
# PostgreSQL, its release to the pool) to end: each is one statement; longer means the disk,
# the server or the network is stuck.
END_WAIT = 10.0


async def to_the_end(step: Awaitable[Any], bound: float = END_WAIT) -> Any:
    """Awaits step; if the caller is cancelled meanwhile, still lets step finish (for at most
    bound seconds) and then raises the cancellation: a connection is never left mid-statement
    for the next user."""
    task = asyncio.ensure_future(step)
    # one given up on below may still fail later: its error is then not "never retrieved"
    task.add_done_callback(_retrieved)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.done():  # the step ended too (or was itself cancelled): nothing to wait for
            raise
        deadline = asyncio.get_running_loop().time() + bound
        while not task.done():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                task.cancel()
                break
            try:
                await asyncio.wait([task], timeout=left)
            except asyncio.CancelledError:
                continue
        raise  # the step's own outcome, if any, is not the caller's: it was cancelled


def _retrieved(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


async def _statement(conn: aiosqlite.Connection, sql: str) -> None:
    await conn.execute(sql)


async def _rollback(conn: aiosqlite.Connection) -> None:
    """ROLLBACK on the writer's thread, queued behind whatever statement it still runs; none
    open (the COMMIT went through, SQLITE_FULL ended it) is fine."""
    try:
        await conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "no transaction is active" not in str(exc):
            raise


@asynccontextmanager
async def _disk_full_is_507() -> AsyncIterator[None]:
    """SQLITE_FULL (the disk, or a quota, is full) is a StorageFull the client is told of (507),
    not a 500: the transaction was rolled back, nothing is half-written, reads go on, and the
    next write succeeds once space is freed. The writers in the background retry meanwhile."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise
        raise StorageFull("the database's disk is full: nothing was written; free space and"
                          " retry") from None


@asynccontextmanager
async def _constraint_is_conflict() -> AsyncIterator[None]:
    """A constraint the services' checks missed (a race with the CLI, say) is a Conflict (409),
    never a driver error the rooms would have to know: the transaction was rolled back. As on
    PostgreSQL (callbridge.db.postgres), a unique violation keeps its SQLSTATE, 23505."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        conflict = Conflict(f"the change conflicts with stored data ({exc}); retry")
        if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_CONSTRAINT_UNIQUE,
                                                      sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
            conflict.sqlstate = "23505"
        raise conflict from None


@asynccontextmanager
async def write_turn(lock: asyncio.Lock, wait: float) -> AsyncIterator[None]:
    """This process's one writer at a time (either engine), waited for at most `wait` seconds:
    nothing awaits a stalled writer forever."""
    try:
        async with asyncio.timeout(wait):
            await lock.acquire()
    except TimeoutError:
        raise Unavailable(f"the database stayed busy for {wait:g} s; retry",
                          error="Database busy") from None
    try:
        yield
    finally:
        lock.release()


class SqliteSnapshot:
    """The handle of Database.snapshot()."""

    engine = "sqlite"

    def __init__(self, conn: ThreadConnection):
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await self._conn.run(lambda c: c.execute(sql, params).fetchall())

    async def value(self, sql: str, params: Params = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0][0] if rows else None


class Savepoints:
    """Savepoints, the same SQL in both engines (every transaction handle has them)."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        raise NotImplementedError

    @asynccontextmanager
    async def savepoint(self, name: str = "part") -> AsyncIterator[None]:
        """A part of the transaction that fails alone: when the block raises, what it wrote is
        rolled back (the error goes on) and the transaction can go on; otherwise it is kept."""
        await self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await self.execute(f"ROLLBACK TO {name}")
            await self.execute(f"RELEASE {name}")
            raise
        await self.execute(f"RELEASE {name}")


class SqliteTx(Savepoints):
    """The handle a store gets inside a write transaction."""

    engine = "sqlite"

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        cur = await self._conn.execute(sql, params)
        return cur.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        cur = await self._conn.execute(sql, params)
        assert cur.lastrowid is not None  # an INSERT's row
        return cur.lastrowid

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class LoopTx(SqliteTx):
    """Tx over a plain sqlite3 connection: each method completes without leaving the loop."""

    def __init__(self, conn: sqlite3.Connection):  # noqa: D107 - same interface as Tx
        self._plain = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return self._plain.execute(sql, params).rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        rowid = self._plain.execute(sql, params).lastrowid
        assert rowid is not None  # an INSERT's row
        return rowid

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._plain.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self._plain.execute(sql, params).fetchall()
