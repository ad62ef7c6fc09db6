"""The audit room in the app: the trail other rooms record into, GET /admin/audit, and the
daily pruning past the retention."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from callbridge.aio import cancel_and_wait
from callbridge.audit import routes
from callbridge.audit.service import AuditTrail
from callbridge.audit.store import AuditStore
from callbridge.db import Db
from callbridge.logs import background_failure

log = logging.getLogger("callbridge.audit")
PRUNE_EVERY = 6 * 3600.0  # seconds; retention is counted in days


def wire(app: web.Application, db: Db, retention_days: int) -> AuditTrail:
    trail = AuditTrail(AuditStore(db), retention_days)
    app[routes.SERVICE] = trail

    async def pruning() -> None:
        while True:
            try:
                await trail.prune()
            except Exception as exc:  # the database away: the next round tries again
                background_failure(log, "audit.prune_failed", exc)
            await asyncio.sleep(PRUNE_EVERY)

    async def running(app: web.Application):
        task = asyncio.create_task(pruning(), name="audit-prune")
        yield
        await cancel_and_wait(task)

    app.cleanup_ctx.append(running)
    return trail
