"""Small asyncio helpers shared by the long-running parts (AMI link, call-log writer)."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancels a background task and returns once it has stopped, so nothing it holds (a socket,
    a batch half-built) outlives the caller's shutdown."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
