"""Who holds a number: the contacts read by the other rooms (the dialplan's caller ID, the
screen-pop card, the call log's names, the name a click-to-dial shows on the phones).

Separate from ContactService (the API's rules) because its callers are the other rooms, on their
hot paths: index point lookups, with a per-instance cache on PostgreSQL (contacts.cache) that
ContactService forgets an account from after each of its writes.
"""

from __future__ import annotations

from typing import Any

from callbridge.contacts.cache import MISS, LookupCache
from callbridge.contacts.store import ContactStore
from callbridge.phone import phone_key


def display_name(d: dict) -> str:
    """"First Last", or the organization for a contact without a name."""
    return " ".join(p for p in (d["firstname"], d["lastname"]) if p) or d["organization"] or ""


class ContactLookup:
    def __init__(self, store: ContactStore, cache: LookupCache | None = None):
        self.store = store
        # which contact holds a number, in memory (PostgreSQL only: see contacts.cache)
        self.cache = cache

    async def card_for(self, account_id: int, region: str, number: str) -> dict | None:
        """The screen-pop card of the contact holding this number (same rules as name_for):
        uuid, name, organization, note, profile_url, external_id, email."""
        d = await self._holding(account_id, region, number)
        if d is None:
            return None
        d["name"] = display_name(d)
        return d

    async def _holding(self, account_id: int, region: str, number: str) -> dict | None:
        try:
            key = phone_key(number, region)
        except ValueError:
            return None
        if not key:
            return None
        if self.cache is None:
            return await self.store.first_holding(account_id, key)
        found = self.cache.get(account_id, key)
        if found is MISS:
            token = self.cache.token(account_id)
            found = await self.store.first_holding(account_id, key)
            self.cache.put(account_id, key, found, token)
        return dict(found) if found is not None else None  # callers add to it

    async def names_for(self, account_id: int, keys: list[str]) -> dict[str, tuple[str, str]]:
        """name_for of many number keys (callbridge.phone.phone_key) of one account at
        once: key -> (display name, uuid), keys no contact holds absent. One query for what the
        cache doesn't answer (the call log names a whole flush of rows this way)."""
        found: dict[str, Any] = {}
        ask = []
        for key in dict.fromkeys(keys):
            cached = self.cache.get(account_id, key) if self.cache is not None else MISS
            if cached is MISS:
                ask.append(key)
            else:
                found[key] = cached
        if ask:
            token = self.cache.token(account_id) if self.cache is not None else None
            held = await self.store.first_holding_each(account_id, ask)
            for key in ask:
                found[key] = held.get(key)
                if self.cache is not None and token is not None:
                    self.cache.put(account_id, key, found[key], token)
        return {k: (display_name(d), d["uuid"]) for k, d in found.items() if d is not None}

    async def name_for(self, account_id: int, region: str, number: str) -> tuple[str, str] | None:
        """(display name, uuid) of the contact holding this number (mobile or any phone, in any
        written form) in the account, for the dialer, screen-pop and the call log: an index point
        lookup (Database.lookup). Several contacts with the number: the oldest (lowest id)
        answers."""
        d = await self._holding(account_id, region, number)
        return (display_name(d), d["uuid"]) if d is not None else None
