"""The application factory: builds the database, stores, services and routes, and wires them."""

from __future__ import annotations

import logging

from aiohttp import web

from callbridge import __version__
from callbridge.accounts.service import AccountService
from callbridge.accounts.store import AccountStore
from callbridge.contacts import routes as contact_routes
from callbridge.contacts.service import ContactService
from callbridge.db import Database
from callbridge.logs import event
from callbridge.settings import Settings
from callbridge.system import routes as system_routes
from callbridge.system.models import ServiceStatus
from callbridge.web import middleware as mw
from callbridge.web.ratelimit import FixedWindowLimiter
from callbridge.web.routing import openapi_document

log = logging.getLogger("callbridge")

MAX_BODY_BYTES = 1024 * 1024
DATABASE = web.AppKey("database", Database)
SETTINGS = web.AppKey("settings", Settings)

ROUTE_TABLES = [system_routes.routes, contact_routes.routes]


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[mw.api_middleware],
    )
    db = Database(settings.database)
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[mw.ACCOUNT] = AccountService(AccountStore(db))
    app[mw.LIMITER] = FixedWindowLimiter(*settings.rate_limit_parsed)
    contacts = ContactService(db)
    app[contact_routes.SERVICE] = contacts

    async def contacts_probe() -> ServiceStatus:
        try:
            await db.fetchone("SELECT 1")
            return ServiceStatus(status="online", detail={"database": str(settings.database)})
        except Exception as exc:  # reported, not raised: /status must answer
            return ServiceStatus(status="offline", detail={"error": type(exc).__name__})

    app[system_routes.PROBES] = {"contacts": contacts_probe}

    for table in ROUTE_TABLES:
        table.mount(app)
    app[system_routes.OPENAPI] = openapi_document(ROUTE_TABLES, "callbridge", __version__)

    async def lifecycle(app: web.Application):
        await db.open()
        event(log, "service.started", database=str(settings.database), version=__version__)
        yield
        await db.close()
        event(log, "service.stopped")

    app.cleanup_ctx.append(lifecycle)
    return app
