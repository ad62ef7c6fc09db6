"""A bare panoramisk client for tests that prove the bench itself (callbridge's own AMI adapter is
tested elsewhere): connect, collect every event, wait for the ones a test expects."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from panoramisk import Manager


class EventLog:
    def __init__(self):
        self.events: list[dict] = []
        self._changed = asyncio.Event()

    def __call__(self, manager, event):
        self.events.append(dict(event))
        self._changed.set()

    def matching(self, **fields) -> list[dict]:
        return [e for e in self.events if all(e.get(k) == v for k, v in fields.items())]

    async def wait_for(self, predicate, timeout: float, what: str):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = predicate(self)
            if found:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = sorted({e.get("Event", "?") for e in self.events})
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; saw {names}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


@asynccontextmanager
async def ami(pbx):
    manager = Manager(loop=asyncio.get_running_loop(), host="127.0.0.1", port=pbx.ami_port,
                      username=pbx.ami_username, secret=pbx.ami_secret, ping_delay=3600,
                      reconnect_timeout=1)
    log = EventLog()
    manager.register_event("*", log)
    await manager.connect()
    for _ in range(100):
        if manager.authenticated:
            break
        await asyncio.sleep(0.05)
    assert manager.authenticated, "AMI login failed"
    try:
        yield manager, log
    finally:
        manager.close()
