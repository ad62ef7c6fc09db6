"""No sqlite3 connection is used by two threads at once, or closed while a call on it runs.

Closing a connection on one thread while another steps a statement on it is undefined behaviour
in SQLite's C API; CI once died of it (a streamed read cancelled at a test's teardown). The
stress runs in a subprocess, so a crash fails this test instead of killing the test run."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from callbridge.db.sqlite_thread import ThreadConnection
from tests.conftest import sqlite_only

ROOT = Path(__file__).resolve().parents[2]


@sqlite_only("the stress drives SQLite snapshots")
def test_cancelled_reads_and_closed_apps_never_crash(tmp_path):
    # before ThreadConnection this died of SIGSEGV in 3 runs of 3 (300 rounds each)
    for attempt in range(2):
        run = tmp_path / str(attempt)
        run.mkdir()
        done = subprocess.run([sys.executable, "-m", "tests.db.snapshot_stress", str(run), "300"],
                              cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
        assert done.stdout.strip().endswith("ok")


def _connect(path):
    return lambda: sqlite3.connect(path, check_same_thread=False)


async def test_every_call_runs_on_the_connections_one_thread(tmp_path):
    conn = await ThreadConnection(_connect(tmp_path / "a.db")).open()
    seen = await asyncio.gather(*(conn.run(lambda c: threading.get_ident()) for _ in range(20)))
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()
    await conn.aclose()


async def test_close_interrupts_a_running_read_and_waits_for_it(tmp_path):
    conn = await ThreadConnection(_connect(tmp_path / "a.db")).open()
    endless = conn.run(lambda c: c.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    ).fetchall())
    task = asyncio.ensure_future(endless)
    await asyncio.sleep(0.05)
    task.cancel()  # the await ends, the statement goes on on the connection's thread...
    async with asyncio.timeout(5):
        await conn.aclose()  # ...until close() interrupts it and closes behind it
    assert conn.closed
    with pytest.raises(sqlite3.ProgrammingError):
        await conn.run(lambda c: c.execute("SELECT 1"))
