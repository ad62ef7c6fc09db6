"""`callbridge serve` with the contact lookups answered from memory: the ceiling of any cache.

    CALLBRIDGE_DATABASE=... python bench/ceiling_serve.py

Everything a request does stays real (key check, rate limit and its headers, body validation,
number normalization, the response model and its JSON) except the SQLite read: ContactStore's
exact-mobile and external-id lookups return one real contact, read once at start. If this does
not reach a ratio, no in-memory index or response cache in front of SQLite can.
"""

import asyncio
import copy
import sqlite3
import sys

from callbridge.contacts.store import ContactStore
from callbridge.db import database_for
from callbridge.settings import load_settings


async def first_contact(database) -> tuple[int, dict]:
    """The database's first contact as the store returns it (its own public read), and its owner."""
    with sqlite3.connect(database) as conn:
        owner, uuid = conn.execute(
            "SELECT account_id, uuid FROM contacts ORDER BY id LIMIT 1").fetchone()
    db = database_for(database, pool_size=1)
    await db.open(create=False)
    try:
        row = await ContactStore(db).get(owner, uuid)
    finally:
        await db.close()
    assert row is not None
    return owner, row


def main() -> None:
    settings = load_settings(None)
    owner, row = asyncio.run(first_contact(settings.database))

    async def from_memory(self, account_id, key):
        return copy.copy(row) if account_id == owner else None

    ContactStore.by_mobile = from_memory
    ContactStore.get_by_external_id = from_memory

    async def no_groups(self, contact_id):
        return []
    ContactStore.groups_of = no_groups

    from callbridge.cli import main as cli
    sys.argv = ["callbridge", "serve"]
    cli()


if __name__ == "__main__":
    main()
