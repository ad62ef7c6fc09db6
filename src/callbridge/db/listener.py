"""One LISTEN connection per instance (PostgreSQL): the channels the rooms listen on
(callbridge.events.fanin, the contact lookup cache), reconnected when it drops.

A notification is a hint that something committed; a listener must not rely on receiving every
one. While the connection is down nothing is heard, so `listening` is False then (the lookup
cache stops trusting itself) and every on_reconnect callback runs once it is back (the event
fan-in reads what went by meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from callbridge.aio import cancel_and_wait
from callbridge.logs import event

log = logging.getLogger("callbridge.db")
RECONNECT_SECONDS = 1.0
Callback = Callable[[str], None]  # the payload


class PgListener:
    def __init__(self, url: str):
        self.url = url
        self._channels: dict[str, list[Callback]] = {}
        self._reconnected: list[Callable[[], Awaitable[None] | None]] = []
        self._task: asyncio.Task | None = None
        self._up = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._started = False

    def on(self, channel: str, callback: Callback) -> None:
        """Calls callback(payload) for each notification on channel. A channel added while
        listening is listened to at once (the first one starts the connection)."""
        new = channel not in self._channels
        self._channels.setdefault(channel, []).append(callback)
        if not (new and self._started):
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="db-listener")
        elif self._conn is not None and not self._conn.is_closed():
            asyncio.get_running_loop().create_task(self._conn.add_listener(channel, self._dispatch))

    def on_reconnect(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        self._reconnected.append(callback)

    @property
    def listening(self) -> bool:
        return self._up.is_set()

    def _dispatch(self, _conn, _pid, channel: str, payload: str) -> None:
        for callback in self._channels.get(channel, ()):
            try:
                callback(payload)
            except Exception:
                log.exception("db.notification_failed")

    async def _run(self) -> None:
        first = True
        while True:
            conn = None
            try:
                conn = self._conn = await asyncpg.connect(self.url)
                lost = asyncio.Event()
                # (bound now: a connection ending later must not set the next one's event)
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in self._channels:
                    await conn.add_listener(channel, self._dispatch)
                self._up.set()
                if not first:
                    event(log, "db.listener_reconnected")
                    for callback in self._reconnected:
                        result = callback()
                        if result is not None:
                            await result
                first = False
                await lost.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                event(log, "db.listener_unavailable", logging.WARNING, error=str(exc))
            finally:
                self._up.clear()
                self._conn = None
                if conn is not None and not conn.is_closed():
                    conn.terminate()  # nothing to finish on a listening connection
            await asyncio.sleep(RECONNECT_SECONDS)

    async def start(self, wait: float = 5.0) -> None:
        """Starts listening; waits up to `wait` seconds for the connection (a database that
        doesn't answer yet is retried in the background). Nothing to hear: no connection (until
        a channel is added)."""
        self._started = True
        if not self._channels:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="db-listener")
        try:
            async with asyncio.timeout(wait):
                await self._up.wait()
        except TimeoutError:
            pass

    async def close(self) -> None:
        self._started = False
        await cancel_and_wait(self._task)
        self._task = None
