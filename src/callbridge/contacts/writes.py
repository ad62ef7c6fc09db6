"""The one way contacts and groups are written: a transaction on the account's rows, after which
the lookup cache forgets the account (other instances hear of it from PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from callbridge.accounts.models import Account
from callbridge.contacts.cache import LookupCache
from callbridge.db import Db, Tx


class AccountWrites:
    def __init__(self, db: Db, cache: LookupCache | None):
        self.db = db
        self.cache = cache

    @asynccontextmanager
    async def transaction(self, account: Account, loop: bool = False) -> AsyncIterator[Tx]:
        """loop: the database's loop-side transaction (bulk imports: no thread hop per row)."""
        try:
            async with (self.db.loop_transaction() if loop else self.db.transaction()) as tx:
                yield tx
        finally:
            if self.cache is not None:
                self.cache.forget(account.id)
