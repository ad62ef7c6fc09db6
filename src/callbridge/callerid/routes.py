"""GET /callerid: the dialplan's CURL() asks for the caller's name (docs/dialplan.md).

Answers text/plain "CB:<name>" ("CB:" alone: keep what Asterisk has). The dialplan uses an answer
only when it starts with "CB:", so an error page (CURL returns a 500's body as the value) never
becomes a name. The PBX holds no API key: the request carries the token asterisk-conf renders
into the dialplan (CALLBRIDGE_CALLERID_TOKEN); without one configured the route is off (404).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callbridge.callerid.service import CallerIdService
from callbridge.errors import DomainError, NotFound
from callbridge.web.routing import RouteTable, parse_model

SERVICE = web.AppKey("callerid_service", CallerIdService)
TOKEN = web.AppKey("callerid_token", str)
routes = RouteTable("callerid")


class CallerIdQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Asterisk versions add nothing, but be lenient

    token: Annotated[str, Field(max_length=256)] = ""
    called: Annotated[str, Field(max_length=64, description="the extension or DID called")] = ""
    number: Annotated[str, Field(max_length=64, description="the caller's number")] = ""
    name: Annotated[str, Field(max_length=256, description="the name the trunk supplied")] = ""


class Forbidden(DomainError):
    status = 403
    error = "Forbidden"


@routes.route("GET", "/callerid", summary="The caller's name for Asterisk's dialplan (CURL)",
              public=True, query=CallerIdQuery, errors=(403, 404))
async def callerid(request):
    """For Asterisk's dialplan only (CURL with the CALLBRIDGE_CALLERID_TOKEN): text "CB:<name>"
    for an inbound caller, "CB:" to keep what the trunk sent. See docs/dialplan.md.
    """
    token = request.app[TOKEN]
    if not token:
        raise NotFound("caller ID for the PBX is off (no CALLBRIDGE_CALLERID_TOKEN)")
    q = parse_model(CallerIdQuery, dict(request.query))
    if not hmac.compare_digest(q.token.encode(), token.encode()):
        raise Forbidden("wrong caller-ID token")
    name = await request.app[SERVICE].name_for(q.called, q.number, q.name)
    return web.Response(text="CB:" + name, content_type="text/plain")
