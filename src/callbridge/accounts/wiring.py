"""The accounts room in the app: accounts and API keys (the middleware's authenticator), the
extensions of each account, and the extension directory kept current while the app runs."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from callbridge.accounts import routes
from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.service import AccountService
from callbridge.accounts.store import AccountStore, ExtensionStore
from callbridge.aio import cancel_and_wait
from callbridge.audit.service import AuditTrail
from callbridge.db import Db
from callbridge.db.listener import PgListener
from callbridge.logs import background_failure
from callbridge.web import middleware as mw

log = logging.getLogger("callbridge.accounts")
# How often keys' last uses are written and expired keys looked for: a key's last use is at most
# this much older in the database than in memory, and an expiry reaches the audit trail within it.
KEY_UPKEEP_SECONDS = 15.0


def wire(app: web.Application, db: Db, nodes: list[str], audit: AuditTrail,
         listener: PgListener | None = None) -> tuple[AccountService, ExtensionService]:
    """listener: where other instances' changes to extensions are heard (PostgreSQL)."""
    accounts = AccountService(AccountStore(db), audit)
    app[mw.ACCOUNT] = accounts
    extensions = ExtensionService(ExtensionStore(db), accounts, nodes=nodes, listener=listener)
    accounts.changed.append(extensions.directory.refresh)
    app[routes.SERVICE] = extensions
    app[routes.ACCOUNTS] = accounts

    async def key_upkeep() -> None:
        while True:
            await asyncio.sleep(KEY_UPKEEP_SECONDS)
            try:
                await accounts.flush_used()
                await accounts.note_expired()
            except Exception as exc:  # the database away: kept, and tried again next round
                background_failure(log, "accounts.key_upkeep_failed", exc)

    async def running(app: web.Application):
        await extensions.load()
        directory = asyncio.create_task(extensions.directory.follow())
        upkeep = asyncio.create_task(key_upkeep(), name="key-upkeep")
        yield
        await cancel_and_wait(upkeep)
        await cancel_and_wait(directory)
        try:
            await asyncio.wait_for(accounts.flush_used(), 5.0)  # the last minute's uses
        except Exception as exc:
            background_failure(log, "accounts.key_upkeep_failed", exc)

    app.cleanup_ctx.append(running)
    return accounts, extensions
