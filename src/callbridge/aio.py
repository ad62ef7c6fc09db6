"""Small asyncio helpers shared by the long-running parts (AMI link, call-log writer)."""

from __future__ import annotations

import asyncio
import logging

from callbridge.logs import event

log = logging.getLogger("callbridge")
STOP_RETRY_SECONDS = 0.5


async def cancel_and_wait(task: asyncio.Task | None, timeout: float = 10.0) -> None:
    """Cancels a background task and returns once it has stopped, so nothing it holds (a socket,
    a batch half-built) outlives the caller's shutdown.

    Never waits forever: a cancellation can be lost (Python 3.11's wait_for swallows one that
    races its result, CPython gh-86296), so a task still running is cancelled again every
    half second, and after `timeout` it is left behind with an error line instead of hanging
    the shutdown."""
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_RETRY_SECONDS)
        if not task.done() and loop.time() >= deadline:
            event(log, "task.would_not_stop", logging.ERROR, task=task.get_name(),
                  seconds=timeout)
            return
    if not task.cancelled():
        task.exception()  # retrieved: its failure was the task's own to log
