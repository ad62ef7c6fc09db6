"""One-time tickets for browsers, which can't set the key header on a WebSocket or an
EventSource: POST /events/ticket (with the key) gives a ticket that opens one stream within
TTL seconds. In memory: a ticket is a few seconds' bridge, not worth a database row."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from callbridge.accounts.models import Account

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

    def issue(self, account: Account, key_id: str) -> str:
        now = time.monotonic()
        if len(self._open) >= MAX_OPEN:
            self._open = {t: i for t, i in self._open.items() if i.expires > now}
            while len(self._open) >= MAX_OPEN:
                self._open.pop(next(iter(self._open)))
        ticket = "tk_" + secrets.token_urlsafe(24)
        self._open[ticket] = _Issued(account, key_id, now + self.ttl)
        return ticket

    def redeem(self, ticket: str) -> tuple[Account, str] | None:
        """The account and key id of a valid ticket, which is used up; None otherwise."""
        issued = self._open.pop(ticket, None)
        if issued is None or issued.expires < time.monotonic():
            return None
        return issued.account, issued.key_id
