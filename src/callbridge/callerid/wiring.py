"""The caller-ID room in the app: GET /callerid, which the dialplan asks for the name to show on
the ringing phones (its token, not an API key)."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.extensions import ExtensionService
from callbridge.callerid import routes
from callbridge.callerid.service import CallerIdService
from callbridge.contacts.lookup import ContactLookup
from callbridge.settings import Settings


def wire(app: web.Application, settings: Settings, lookup: ContactLookup,
         extensions: ExtensionService) -> CallerIdService:
    service = CallerIdService(lookup, extensions, settings.callerid_keep_trunk_names)
    app[routes.SERVICE] = service
    app[routes.TOKEN] = settings.callerid_token.get_secret_value()
    return service
