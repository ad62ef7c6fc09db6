"""`callbridge serve` with the contact lookups answered from memory: the ceiling of any cache.

    CALLBRIDGE_DATABASE=... python bench/ceiling_serve.py

Everything a request does stays real (key check, rate limit and its headers, body validation,
number normalization, the response model and its JSON) except the SQLite read: ContactStore's
exact-mobile and external-id lookups return one real contact, read once at start. If this does
not reach a ratio, no in-memory index or response cache in front of SQLite can.
"""

import copy
import sqlite3
import sys

from callbridge.contacts.store import ContactStore, _COLS, _row
from callbridge.settings import load_settings


def main() -> None:
    settings = load_settings(None)
    conn = sqlite3.connect(settings.database)
    conn.row_factory = sqlite3.Row
    row = _row(conn.execute(f"SELECT {_COLS} FROM contacts c ORDER BY c.id LIMIT 1").fetchone())
    owner = conn.execute("SELECT account_id FROM contacts ORDER BY id LIMIT 1").fetchone()[0]
    conn.close()

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
