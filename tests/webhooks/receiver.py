"""A real webhook receiver on loopback: records every POST, answers with a status the test
chooses, optionally slowly."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (what a failure prints)


@dataclass
class Receiver:
    status: int = 200
    delay: float = 0.0
    got: list[Received] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0
    location: str | None = None  # answer 302 to here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, port: int = 0) -> "Receiver":
        async def hook(request: web.Request) -> web.Response:
            self.got.append(Received(dict(request.headers), await request.read()))
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.location:
                raise web.HTTPFound(self.location)
            return web.Response(status=self.status, text="x" * 5000 if self.status >= 400 else "ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_post("/elsewhere", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def ids(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.got}
