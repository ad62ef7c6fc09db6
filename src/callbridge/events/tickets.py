"""One-time tickets for browsers, which can't set the key header on a WebSocket or an
EventSource: POST /events/ticket (with the key) gives a ticket that opens one stream within
TTL seconds. One process keeps them in memory (a ticket is a few seconds' bridge, not worth a
database row); several instances on PostgreSQL share them in a table, since the stream may be
opened at another instance than the one that issued the ticket."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from callbridge.accounts.models import Account
from callbridge.bounded import put_bounded
from callbridge.db.coordination import TicketRows

TTL_SECONDS = 30
MAX_OPEN = 10_000  # issued and not yet used: a client looping on POST can't grow this forever


@dataclass(frozen=True, slots=True)
class _Issued:
    account: Account
    key_id: str
    expires: float


class TicketBook:
    def __init__(self, ttl: float = TTL_SECONDS):
        self.ttl = ttl
        self._open: dict[str, _Issued] = {}

    async def issue(self, account: Account, key_id: str) -> str:
        now = time.monotonic()
        if len(self._open) >= MAX_OPEN:
            self._open = {t: i for t, i in self._open.items() if i.expires > now}
        ticket = "tk_" + secrets.token_urlsafe(24)
        put_bounded(self._open, ticket, _Issued(account, key_id, now + self.ttl), MAX_OPEN)
        return ticket

    async def redeem(self, ticket: str) -> tuple[Account, str] | None:
        """The account and key id of a valid ticket, which is used up; None otherwise."""
        issued = self._open.pop(ticket, None)
        if issued is None or issued.expires < time.monotonic():
            return None
        return issued.account, issued.key_id


class SharedTicketBook:
    """TicketBook in PostgreSQL (event_tickets): only a hash of the ticket is stored, and
    redeeming deletes the row, so a ticket opens one stream at whichever instance."""

    def __init__(self, rows: TicketRows, ttl: float = TTL_SECONDS):
        self.rows = rows
        self.ttl = ttl

    async def issue(self, account: Account, key_id: str) -> str:
        ticket = "tk_" + secrets.token_urlsafe(24)
        now = time.time()
        await self.rows.put(_hash(ticket), account.id, key_id, now + self.ttl, now)
        return ticket

    async def redeem(self, ticket: str) -> tuple[Account, str] | None:
        row = await self.rows.take(_hash(ticket), time.time())
        if row is None:
            return None
        return Account(row["id"], row["name"], row["region"], row["uuid"]), row["key_id"]


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()
