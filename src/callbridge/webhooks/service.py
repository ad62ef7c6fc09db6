"""Webhook subscriptions and the outbox they fill.

An event's deliveries are written in the transaction that stores the event (enqueue_in is one
of the journal's in-transaction hooks): the event can't exist without its deliveries, and a
delivery survives a kill -9 (the sender picks it up after restart; at-least-once, the same
webhook-id every time).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import time
import uuid as uuidlib
from datetime import datetime, timezone
from urllib.parse import urlsplit

from callbridge.accounts.models import Account
from callbridge.audit.service import SYSTEM, AuditTrail
from callbridge.db import Tx
from callbridge.errors import Conflict, NotFound
from callbridge.events.hub import StoredEvent
from callbridge.events.models import matches
from callbridge.timeutil import iso, utc_now_iso
from callbridge.webhooks import models as m
from callbridge.webhooks.signing import new_secret
from callbridge.webhooks.store import WebhookStore
from callbridge.webhooks.targets import check_target, parse_url

MAX_WEBHOOKS_PER_ACCOUNT = 20


def _shown(url: object) -> str:
    """A URL as the audit trail and the logs show it: no user, password or query string, which
    endpoints often carry tokens in."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _view(d: dict) -> m.Webhook:
    return m.Webhook(id=d["uuid"], url=d["url"], types=d["types"], created_at=d["created_at"],
                     enabled=d["disabled_at"] is None, disabled_at=d["disabled_at"],
                     disabled_reason=d["disabled_reason"])


def _delivery(d: dict) -> m.Delivery:
    due = (iso(datetime.fromtimestamp(d["next_attempt_at"], timezone.utc))
           if d["status"] == "pending" else None)
    return m.Delivery(id=d["id"], msg_id=d["msg_id"], event_type=d["event_type"],
                      status=d["status"], attempts=d["attempts"], next_attempt_at=due,
                      created_at=d["created_at"], last_attempt_at=d["last_attempt_at"],
                      last_status=d["last_status"], last_error=d["last_error"],
                      last_response=d["last_response"], last_ms=d["last_ms"])


def msg_id_of(ev: StoredEvent) -> str:
    return f"evt_{ev.account_id}_{ev.id}"


class WebhookService:
    def __init__(self, store: WebhookStore, audit: AuditTrail, allow_private: bool = False):
        self.store = store
        self.audit = audit
        self.allow_private = allow_private
        self.wake = lambda: None  # the sender's: told when deliveries are due now

    async def create(self, account: Account, body: m.WebhookCreate,
                     actor: str = SYSTEM) -> m.WebhookCreated:
        url = parse_url(body.url)
        await check_target(url, self.allow_private)
        hook_uuid, secret, now = str(uuidlib.uuid4()), new_secret(), utc_now_iso()
        if not await self.store.create(hook_uuid, account.id, str(url), body.types, secret, now,
                                       MAX_WEBHOOKS_PER_ACCOUNT):
            raise Conflict(f"an account has at most {MAX_WEBHOOKS_PER_ACCOUNT} webhooks",
                           error="Too many webhooks")
        await self.audit.record(actor, "webhook.added", account, hook_uuid, url=_shown(url),
                                types=body.types)
        return m.WebhookCreated(id=hook_uuid, url=str(url), types=body.types, created_at=now,
                                enabled=True, secret=secret)

    async def list(self, account: Account) -> list[m.Webhook]:
        return [_view(d) for d in await self.store.of_account(account.id)]

    async def _own(self, account: Account, hook_id: str) -> dict:
        d = await self.store.get(account.id, hook_id)
        if d is None:
            raise NotFound(f"no webhook {hook_id!r} in this account", error="Webhook not found")
        return d

    async def delete(self, account: Account, hook_id: str, actor: str = SYSTEM) -> m.Deleted:
        d = await self._own(account, hook_id)
        if not await self.store.delete(account.id, hook_id):
            raise NotFound(f"no webhook {hook_id!r} in this account", error="Webhook not found")
        await self.audit.record(actor, "webhook.removed", account, hook_id,
                                url=_shown(d["url"]))
        return m.Deleted(id=hook_id)

    async def enable(self, account: Account, hook_id: str) -> m.Webhook:
        """Turns a disabled endpoint back on (once it is fixed): new events reach it again; the
        deliveries failed while it was disabled stay failed."""
        d = await self._own(account, hook_id)
        await self.store.enable(d["id"])
        return _view(await self._own(account, hook_id))

    async def send_test(self, account: Account, hook_id: str) -> m.TestQueued:
        """A webhook.test delivery to this endpoint only, through the same outbox."""
        d = await self._own(account, hook_id)
        if d["disabled_at"] is not None:
            raise Conflict(f"the webhook is disabled: {d['disabled_reason']}",
                           error="Webhook disabled")
        msg_id = "msg_test_" + uuidlib.uuid4().hex
        now = utc_now_iso()
        payload = json.dumps({"type": "webhook.test", "time": now,
                              "data": {"webhook": hook_id}}, separators=(",", ":"))
        delivery_id = await self.store.enqueue_one((d["id"], msg_id, "webhook.test", payload,
                                                    time.time(), now))
        self.wake()
        return m.TestQueued(msg_id=msg_id, delivery_id=delivery_id)

    async def deliveries(self, account: Account, hook_id: str,
                         q: m.DeliveriesQuery) -> builtins.list[m.Delivery]:
        d = await self._own(account, hook_id)
        return [_delivery(r) for r in await self.store.deliveries(d["id"], q.before, q.limit)]

    # ---- the journal's in-transaction hook ------------------------------------------------------

    async def enqueue_in(self, tx: Tx, events: builtins.list[StoredEvent]) -> None:
        hooks = await self.store.active_for(tx, sorted({e.account_id for e in events}))
        if not hooks:
            return
        now, created = time.time(), utc_now_iso()
        rows = [(h["id"], msg_id_of(ev), ev.type, ev.body, now, created)
                for ev in events for h in hooks
                if h["account_id"] == ev.account_id and matches(ev.type, h["types"])]
        if rows:
            await self.store.enqueue(tx, rows)
            # the sender looks right after this commit (a loop turn later)
            asyncio.get_running_loop().call_soon(self.wake)
