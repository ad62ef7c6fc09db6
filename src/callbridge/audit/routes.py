"""GET /admin/audit: the audit trail, newest first, paged by id, for admin keys."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from callbridge.audit import models as m
from callbridge.audit.service import AuditTrail
from callbridge.web.routing import RouteTable, json_ok, parse_model

SERVICE = web.AppKey("audit_trail", AuditTrail)
routes = RouteTable("admin", admin=True)


@routes.route("GET", "/admin/audit", summary="The audit trail (newest first, paged)",
              query=m.AuditQuery, response=m.AuditPage)
async def audit_trail(request):
    """Admin keys only: who created, revoked or saw expire a key, changed an account or its
    extensions, added or removed a webhook endpoint, or imported contacts, and when. Filter by
    account (id or name), action (key.created, or all key.* with key) and time; `next` continues
    with older entries.
    """
    q = parse_model(m.AuditQuery, dict(request.query))
    since, until = q.bounds()
    entries = await request.app[SERVICE].page(account=q.account, action=q.action, since=since,
                                              until=until, before=q.before, limit=q.limit)
    following = None
    if len(entries) == q.limit:
        params = {k: v for k, v in request.query.items() if k != "before"}
        following = f"{request.path}?{urlencode({**params, 'before': entries[-1].id})}"
    return json_ok(m.AuditPage(
        entries=[m.AuditEntryView(id=e.id, at=e.at, account=e.account,
                                  account_name=e.account_name, actor=e.actor, action=e.action,
                                  target=e.target, detail=e.detail) for e in entries],
        next=following))
