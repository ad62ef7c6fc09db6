"""The accounts room in the app: accounts and API keys (the middleware's authenticator), the
extensions of each account, and the extension directory kept current while the app runs."""

from __future__ import annotations

import asyncio

from aiohttp import web

from callbridge.accounts import routes
from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.service import AccountService
from callbridge.accounts.store import AccountStore, ExtensionStore
from callbridge.aio import cancel_and_wait
from callbridge.db import Db
from callbridge.db.listener import PgListener
from callbridge.web import middleware as mw


def wire(app: web.Application, db: Db, nodes: list[str],
         listener: PgListener | None = None) -> tuple[AccountService, ExtensionService]:
    """listener: where other instances' changes to extensions are heard (PostgreSQL)."""
    accounts = AccountService(AccountStore(db))
    app[mw.ACCOUNT] = accounts
    extensions = ExtensionService(ExtensionStore(db), accounts, nodes=nodes, listener=listener)
    accounts.changed.append(extensions.directory.refresh)
    app[routes.SERVICE] = extensions

    async def running(app: web.Application):
        await extensions.load()
        directory = asyncio.create_task(extensions.directory.follow())
        yield
        await cancel_and_wait(directory)

    app.cleanup_ctx.append(running)
    return accounts, extensions
