"""GET /presence: the account's extensions with their presence (the receptionist's colleagues)."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from callbridge.accounts.http import account_of
from callbridge.presence.service import PresenceService
from callbridge.scopes import Scope
from callbridge.web.routing import RouteTable, json_ok

SERVICE = web.AppKey("presence_service", PresenceService)
routes = RouteTable("presence")


class PresenceView(BaseModel):
    extension: str
    name: str | None = None
    state: Literal["available", "ringing", "busy", "offline", "unknown"] = Field(
        description="busy: on a call; offline: no device registered; unknown: its Asterisk node"
                    " can't be asked")
    devices: int | None = Field(description="devices that can ring now (null: unknown)")


@routes.route("GET", "/presence", scope=Scope.EVENTS_READ,
              summary="Each extension: available, ringing, busy or offline",
              response=list[PresenceView])
async def presence(request):
    """The account's extensions with their presence now. A page keeps it current from the event
    stream: `call.*` events change the calling part, `device.state` the devices."""
    found = await request.app[SERVICE].of_account(account_of(request))
    return json_ok([PresenceView(extension=p.extension, name=p.name, state=p.state,
                                 devices=p.devices) for p in found],
                   as_type=list[PresenceView])
