"""Nothing waits forever: a write that can't get the writer in time is a clear 503."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from callbridge.db import Database
from callbridge.errors import Unavailable


async def test_a_write_waiting_too_long_for_the_writer_is_unavailable(tmp_path):
    db = Database(tmp_path / "a.db", write_wait=0.2)
    await db.open()
    try:
        async with db.transaction():
            started = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                async with db.transaction():
                    pass
            assert 0.15 < time.monotonic() - started < 2
        assert caught.value.status == 503 and caught.value.error == "Database busy"
        async with db.transaction() as tx:  # the lock was released: writes go on
            await tx.execute("UPDATE accounts SET version = version")
    finally:
        await db.close()


def test_sigterm_stops_the_bench_processes_it_started(tmp_path):
    """The bench's clean-up runs on SIGTERM too (atexit alone misses it)."""
    pidfile = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from pathlib import Path
        from tests.asterisk.pbx import start_process
        proc = start_process(["sleep", "300"], Path({str(tmp_path / 'log')!r}))
        Path({str(pidfile)!r}).write_text(str(proc.pid))
        time.sleep(300)
    """)
    runner = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 20
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=20) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"the bench's child process {child} outlived its SIGTERMed parent")


async def test_cancel_and_wait_survives_a_lost_cancellation_and_never_hangs(caplog):
    import asyncio

    from callbridge import aio

    stubborn_cancels = 0

    async def swallows_one_cancel():
        nonlocal stubborn_cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                stubborn_cancels += 1
                if stubborn_cancels > 1:   # the second cancel is obeyed
                    raise

    task = asyncio.get_running_loop().create_task(swallows_one_cancel())
    await asyncio.sleep(0)
    started = time.monotonic()
    await aio.cancel_and_wait(task)
    assert task.cancelled() and stubborn_cancels == 2 and time.monotonic() - started < 3

    released = False

    async def never_stops():  # until the test releases it
        while not released:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass

    task = asyncio.get_running_loop().create_task(never_stops())
    await asyncio.sleep(0)
    started = time.monotonic()
    await aio.cancel_and_wait(task, timeout=1.0)
    assert not task.done() and time.monotonic() - started < 3
    assert any(r.getMessage() == "task.would_not_stop" for r in caplog.records)
    released = True
    task.cancel()
    await task
