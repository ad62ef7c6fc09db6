"""Run as a script (by test_threads.py, in a subprocess so that a native crash is a failed test and
not a dead test run): cancels snapshot reads mid-fetch many times, and closes an app whose
streamed whole-account reads are still open, the two ways a sqlite3 connection was once closed on
one thread while another still stepped a statement on it (a segmentation fault in CI).

    python -m tests.db.snapshot_stress DIR [ROUNDS]
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import create_app
from callbridge.db.database import Database
from callbridge.web import middleware as mw
from tests.conftest import make_settings

# a statement that steps for a while without needing data: the read a cancel lands inside
LONG_READ = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)"
             " SELECT x, printf('%0100d', x) FROM c")


async def cancel_reads_mid_fetch(path: Path, rounds: int) -> None:
    db = Database(path)
    await db.open()
    try:
        for _ in range(rounds):
            async def read() -> None:
                async with db.snapshot() as snap:
                    await snap.fetchall(LONG_READ)
            task = asyncio.ensure_future(read())
            await asyncio.sleep(random.uniform(0, 0.004))
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await db.close()


async def close_app_with_streams_open(tmp: Path, rounds: int) -> None:
    for n in range(rounds):
        app = create_app(make_settings(tmp / f"app{n}"))
        async with TestClient(TestServer(app)) as client:
            _, key = await app[mw.ACCOUNT].create_key("acme")
            for i in range(60):  # enough that a batch read is in flight when the app closes
                await client.post("/contacts/contacts", json={"firstname": f"C{i}"},
                                  headers={"x-api-key": key})
            # two streamed reads left unread, as the CORS test did
            for _ in range(2):
                resp = await client.get("/contacts/contacts", headers={"x-api-key": key})
                await resp.content.read(random.randint(1, 64))


async def stop_loop_mid_read(path: Path) -> None:
    """Returns with a read still going in a task: asyncio.run cancels it and finalizes the
    generators left open while the read is on the connection's thread."""
    db = Database(path)
    await db.open()

    async def rows():
        async with db.snapshot() as snap:
            while True:
                yield await snap.fetchall(LONG_READ)

    async def follow() -> None:
        async for _ in rows():
            pass
    asyncio.ensure_future(follow())
    await asyncio.sleep(random.uniform(0, 0.02))


async def main(tmp: Path, rounds: int) -> None:
    from callbridge.contacts import service as contact_service
    contact_service.BATCH = 3  # many batch reads per stream: more chances to be mid-fetch
    await cancel_reads_mid_fetch(tmp / "cancel.db", rounds)
    await close_app_with_streams_open(tmp, max(1, rounds // 20))


if __name__ == "__main__":
    tmp, rounds = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 400
    asyncio.run(main(tmp, rounds))
    for n in range(max(1, rounds // 20)):
        asyncio.run(stop_loop_mid_read(tmp / f"stop{n}.db"))
    print("ok")
