"""The presence room in the app: a board per Asterisk node, subscribed to its call model, and
GET /presence."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.extensions import ExtensionService
from callbridge.ami.calls import CallModel
from callbridge.presence import routes
from callbridge.presence.board import PresenceBoard
from callbridge.presence.service import Devices, PresenceService


def wire(app: web.Application, extensions: ExtensionService,
         nodes: dict[str, tuple[Devices, CallModel]]) -> PresenceService:
    """nodes: each node's name -> (its reachable devices, its call model), the first the
    default node (of extensions that name none)."""
    boards: dict[str, tuple[Devices, PresenceBoard]] = {}
    for name, (devices, model) in nodes.items():
        board = PresenceBoard()
        model.subscribe(board)  # on every instance: presence is not the lease holder's alone
        boards[name] = (devices, board)
    service = PresenceService(extensions, boards, default_node=next(iter(nodes)))
    app[routes.SERVICE] = service
    return service
