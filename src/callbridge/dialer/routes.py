"""HTTP for the Dialer API 3.0: POST /dialer/call (and /dailer/call), GET /dialer/calls/{id}."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.http import account_of
from callbridge.dialer.models import CallProgress, DialAccepted, DialRequest
from callbridge.dialer.service import DialerService
from callbridge.scopes import Scope
from callbridge.web.routing import RouteTable, json_ok, parse_body

SERVICE = web.AppKey("dialer_service", DialerService)
routes = RouteTable("dialer")


@routes.route("POST", "/dialer/call", scope=Scope.DIAL,
              summary="Ring every device of an extension, then dial",
              body=DialRequest, response=DialAccepted, errors=(409, 500, 503))
async def dial(request):
    """Rings every reachable device of the extension (and its mobile), showing the contact's
    name, then dials the number when one answers. The extension must be the account's (400);
    nothing reachable is a 409 and nothing is sent; the PBX down or refusing callbridge's
    login is a 503. Follow the call with GET /dialer/calls/{call_id} or dial.progress
    events.
    """
    body = await parse_body(request, DialRequest)
    return json_ok(await request.app[SERVICE].dial(account_of(request), body))


@routes.route("POST", "/dailer/call", scope=Scope.DIAL,
              summary="Alias of /dialer/call (the seed's examples' spelling)",
              body=DialRequest, response=DialAccepted, errors=(409, 500, 503))
async def dial_seed_spelling(request):
    """The same as POST /dialer/call, at the spelling the seed's examples use."""
    return await dial(request)


@routes.route("GET", "/dialer/calls/{call_id}", scope=Scope.DIAL,
              summary="Progress of a click-to-dial call",
              response=CallProgress, errors=(404,))
async def call_progress(request):
    """Where a click-to-dial is: queued, ringing, answered (which device), connected, ended,
    with timestamps and a failure reason.
    """
    return json_ok(await request.app[SERVICE].progress(account_of(request),
                                                       request.match_info["call_id"]))
