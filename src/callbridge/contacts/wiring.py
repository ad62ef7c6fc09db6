"""The contacts room in the app: the store and its service (the lookups other rooms use), and
the one-time repairs of stored contacts, run in the background once the service is up."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from callbridge.accounts.service import AccountService
from callbridge.aio import cancel_and_wait
from callbridge.contacts import routes
from callbridge.contacts.cache import LookupCache
from callbridge.contacts.repair import repair_shown_numbers
from callbridge.contacts.service import ContactService
from callbridge.db import Db
from callbridge.logs import background_failure

log = logging.getLogger("callbridge.contacts")
REPAIR_RETRY_SECONDS = 60.0


def wire(app: web.Application, db: Db, accounts: AccountService,
         cache: LookupCache | None = None) -> ContactService:
    contacts = ContactService(db, cache=cache)
    app[routes.SERVICE] = contacts

    async def repairing() -> None:
        while True:
            try:
                await repair_shown_numbers(contacts, accounts.list_accounts)
                return
            except Exception as exc:  # the database away: tried again
                background_failure(log, "contacts.repair_failed", exc)
            await asyncio.sleep(REPAIR_RETRY_SECONDS)

    async def running(app: web.Application):
        task = asyncio.create_task(repairing(), name="contacts-repair")
        yield
        await cancel_and_wait(task)

    app.cleanup_ctx.append(running)
    return contacts
