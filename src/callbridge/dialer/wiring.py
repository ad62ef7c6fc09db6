"""The dialer room in the app: click-to-dial on the node serving each extension, its progress
followed by the tracker (fed by every node's call model) and published as dial.progress."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.extensions import ExtensionService
from callbridge.contacts.lookup import ContactLookup
from callbridge.dialer import routes
from callbridge.dialer.service import DialerService, DialNode
from callbridge.dialer.tracker import CallTracker
from callbridge.settings import Settings


def wire(app: web.Application, settings: Settings, extensions: ExtensionService,
         lookup: ContactLookup, tracker: CallTracker, nodes: dict[str, DialNode],
         stored_progress=None) -> DialerService:
    """nodes: each node's name -> its DialNode, the first the default (of extensions that name
    none); stored_progress: a call's last stored dial.progress (the event journal's)."""
    service = DialerService(
        extensions, lookup, tracker, nodes=nodes, default_node=next(iter(nodes)),
        stored_progress=stored_progress, ring_context=settings.ring_context,
        outbound_context=settings.outbound_context, originate_timeout=settings.originate_timeout,
        action_timeout=settings.ami_action_timeout)
    app[routes.SERVICE] = service
    return service
