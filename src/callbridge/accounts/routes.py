"""GET /extensions: the calling account's extensions (what a screen-pop page offers to watch
and dial from). Management (adding, removing) stays with the operator's CLI."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.http import account_of
from callbridge.web.routing import RouteTable, json_ok

SERVICE = web.AppKey("extension_service", ExtensionService)
routes = RouteTable("extensions")


class ExtensionView(BaseModel):
    extension: str
    name: str | None = None
    did: str | None = None
    has_mobile: bool


@routes.route("GET", "/extensions", summary="This account's extensions",
              response=list[ExtensionView])
async def list_extensions(request):
    """The account's PBX extensions: what it may dial from and watch on the event stream."""
    account = account_of(request)
    found = await request.app[SERVICE].list(account.name)
    return json_ok([ExtensionView(extension=e.extension, name=e.name, did=e.did,
                                  has_mobile=bool(e.mobile)) for e in found],
                   as_type=list[ExtensionView])
