"""Each extension of an account with its presence: available, ringing, busy (on a call), offline
(no device registered) or unknown (its node can't be asked). Devices come from the dialer's
reachable-devices cache (kept current from ContactStatus and refreshed after each connect, so an
answer rarely costs an AMI round trip); calls from the node's PresenceBoard."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.models import Account
from callbridge.ami.link import AmiError
from callbridge.presence.board import PresenceBoard

ASK_TIMEOUT = 2.0  # seconds one extension's devices may take to be asked (a node away: unknown)
ASK_CONCURRENCY = 8


class Devices(Protocol):
    async def contacts(self, extension: str) -> str:
        """The extension's dial string: its reachable devices joined by '&' ('' = none)."""


@dataclass(frozen=True, slots=True)
class Presence:
    extension: str
    name: str | None
    state: str               # available, ringing, busy, offline, unknown
    devices: int | None      # devices that can ring now (None: unknown)


class PresenceService:
    def __init__(self, extensions: ExtensionService,
                 nodes: dict[str, tuple[Devices, PresenceBoard]], default_node: str):
        self.extensions = extensions
        self.nodes = nodes
        self.default_node = default_node

    async def of_account(self, account: Account) -> list[Presence]:
        gate = asyncio.Semaphore(ASK_CONCURRENCY)

        async def one(extension: str, name: str | None, node: str | None) -> Presence:
            devices, board = self.nodes.get(node or self.default_node,
                                            self.nodes[self.default_node])
            async with gate:
                count = await self._devices(devices, extension)
            calling = board.state_of(extension)
            if calling is not None:
                state = calling
            elif count is None:
                state = "unknown"
            else:
                state = "available" if count else "offline"
            return Presence(extension, name, state, count)

        found = await self.extensions.list(account.name)
        return list(await asyncio.gather(*(one(e.extension, e.name, e.node) for e in found)))

    @staticmethod
    async def _devices(devices: Devices, extension: str) -> int | None:
        try:
            dial = await asyncio.wait_for(devices.contacts(extension), ASK_TIMEOUT)
        except (AmiError, asyncio.TimeoutError):
            return None
        return len([d for d in dial.split("&") if d]) if dial else 0
