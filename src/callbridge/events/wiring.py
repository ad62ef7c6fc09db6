"""The events room in the app: the journal, the live streams and their tickets."""

from __future__ import annotations

from aiohttp import web

from callbridge.db import Db
from callbridge.events import routes
from callbridge.events.hub import EventHub
from callbridge.events.journal import EventJournal, FanInFactory
from callbridge.events.service import EventsService
from callbridge.settings import Settings
from callbridge.web import middleware as mw


def wire(app: web.Application, db: Db, settings: Settings, tickets: mw.TicketRedeemer,
         fanin: FanInFactory | None = None) -> EventJournal:
    """tickets: the stream tickets' book; fanin: how other instances' events reach this one's
    clients (both as callbridge.variants chose for the database)."""
    hub = EventHub()
    journal = EventJournal(db, hub, settings.events_retention_hours * 3600, fanin)
    app[routes.SERVICE] = EventsService(journal, hub, settings.events_heartbeat,
                                        settings.events_client_buffer)
    app[mw.TICKETS] = tickets

    async def running(app: web.Application):
        await journal.start()
        yield
        await journal.close()  # after the rooms that emit into it closed (registered before them)

    app.cleanup_ctx.append(running)
    return journal
