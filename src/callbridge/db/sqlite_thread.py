"""A sqlite3 connection that lives on one thread of its own, for reads too long for the loop.

Why not asyncio.to_thread(conn.execute, ...): to_thread picks any worker of the loop's shared
pool, and a cancelled await does not stop the call it was waiting for. A stream cancelled
mid-fetch (a client gone, a test torn down, the loop shutting down) then ran its `finally:
conn.close()` on a second worker while the first still stepped a statement on the same
connection: undefined behaviour in SQLite's C API, seen as a segmentation fault in CI.

Here every call on the connection, its opening and its closing included, runs on the
connection's own single thread, one after another, so no two can overlap whatever is cancelled.
close() never waits on the loop: it interrupts a running statement (sqlite3_interrupt is the
one call SQLite allows from another thread) and queues the close behind it, so it holds even
when its caller is cancelled again or the loop is closing and never runs another await.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ThreadConnection:
    """A sqlite3 connection opened, used and closed on one dedicated thread."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str = "sqlite"):
        self._connect = connect
        # one worker: the executor's queue is what orders every call on the connection
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._closing = False
        self._guard = threading.Lock()  # between close() on the loop and _open() on the worker

    async def open(self) -> "ThreadConnection":
        await self.run(lambda conn: None)
        return self

    def _with_conn(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._guard:
            if self._closing:
                raise sqlite3.ProgrammingError("the connection is closed")
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
        return work(conn)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """work(conn) on the connection's thread. Cancelling the await leaves the call to finish
        there (or to be interrupted by close()); nothing else runs on the connection meanwhile."""
        if self._closing:
            raise sqlite3.ProgrammingError("the connection is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._with_conn, work)

    def close(self) -> None:
        """Ends the connection: a statement running now is interrupted, the close runs after it
        on the same thread. Safe to call from any thread, more than once, without a loop."""
        with self._guard:
            if self._closing:
                return
            self._closing = True
            conn = self._conn
        if conn is not None:
            conn.interrupt()
        try:
            self._thread.submit(self._close_on_thread)
        except RuntimeError:  # the interpreter is shutting its executors down: close here
            self._close_on_thread()
        self._thread.shutdown(wait=False)

    def _close_on_thread(self) -> None:
        with self._guard:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def aclose(self) -> None:
        """close(), then wait (bounded) for the thread to have closed the connection."""
        self.close()
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(None, self._thread.shutdown, True)
        try:
            await asyncio.wait_for(asyncio.shield(done), 5.0)
        except TimeoutError:  # a statement deaf to interrupt(): it closes when it returns
            pass

    @property
    def closed(self) -> bool:
        return self._closing

