"""The webhooks room in the app: subscriptions, the outbox filled in the journal's transactions,
and the sender."""

from __future__ import annotations

from aiohttp import web

from callbridge.audit.service import AuditTrail
from callbridge.db import Db
from callbridge.events.journal import EventJournal
from callbridge.webhooks import routes
from callbridge.webhooks.sender import WebhookSender
from callbridge.webhooks.service import WebhookService
from callbridge.webhooks.store import WebhookStore


def wire(app: web.Application, db: Db, journal: EventJournal, audit: AuditTrail,
         allow_private: bool) -> WebhookSender:
    store = WebhookStore(db)
    service = WebhookService(store, audit, allow_private)
    sender = WebhookSender(store, allow_private)
    service.wake = sender.wake
    journal.in_transaction.append(service.enqueue_in)  # an event and its deliveries: one commit
    app[routes.SERVICE] = service
    app[routes.SENDER] = sender

    async def running(app: web.Application):
        sender.start()  # what the outbox held at the last stop (or crash) goes out now
        yield
        await sender.close()

    app.cleanup_ctx.append(running)
    return sender
