"""GET /extensions: the calling account's extensions (what a screen-pop page offers to watch
and dial from); GET /whoami: what the calling key may do. Management (adding, removing) stays
with the operator's CLI and the admin API."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.http import account_of
from callbridge.accounts.service import AccountService
from callbridge.scopes import ANY_ACCOUNT_KEY
from callbridge.web.middleware import REQUEST_KEY_ID, REQUEST_SCOPES
from callbridge.web.routing import RouteTable, json_ok

SERVICE = web.AppKey("extension_service", ExtensionService)
ACCOUNTS = web.AppKey("whoami_accounts", AccountService)
routes = RouteTable("extensions")


class ExtensionView(BaseModel):
    extension: str
    name: str | None = None
    did: str | None = None
    has_mobile: bool


@routes.route("GET", "/extensions", scope=ANY_ACCOUNT_KEY,
              summary="This account's extensions",
              response=list[ExtensionView])
async def list_extensions(request):
    """The account's PBX extensions: what it may dial from and watch on the event stream."""
    account = account_of(request)
    found = await request.app[SERVICE].list(account.name)
    return json_ok([ExtensionView(extension=e.extension, name=e.name, did=e.did,
                                  has_mobile=bool(e.mobile)) for e in found],
                   as_type=list[ExtensionView])


class WhoAmI(BaseModel):
    account: str = Field(description="the account's public id")
    account_name: str
    key_id: str
    scopes: list[str] = Field(description="what this key may do (callbridge.scopes)")
    expires_at: str | None = None


@routes.route("GET", "/whoami", scope=ANY_ACCOUNT_KEY, summary="The calling key: its account,"
              " scopes and expiry", response=WhoAmI)
async def whoami(request):
    """Which account the key belongs to, what it may do and until when: a client (the
    screen-pop page) shows only what its key allows."""
    account = account_of(request)
    key = await request.app[ACCOUNTS].key_info(account, request[REQUEST_KEY_ID])
    return json_ok(WhoAmI(account=account.uuid, account_name=account.name, key_id=key.id,
                          scopes=sorted(request[REQUEST_SCOPES]), expires_at=key.expires_at))
