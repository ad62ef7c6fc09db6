"""A one-time repair of contacts stored before 4f5e799: a foreign number whose digits alone read
as a home number was shown without its '+' ('+45 71 99 99 99' in a US account as 4571999999), so
a CRM writing back what it read turned it into (457) 199-9999. New writes show it with its '+';
this rewrites the stored shown forms from the stored keys (which were always right), through the
normal write path: each repaired contact gets a new version, so a CRM following
contactsAfterVersion picks the corrected number up.

It runs once per database (recorded in data_repairs), in the background after the service
starts, and only reads contacts that have a foreign number (an indexed scan), so it costs nothing
on an installation that has none. Running it twice (two instances at once) changes nothing more:
a repaired contact no longer shows the old form."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import phonenumbers

from callbridge.accounts.models import Account
from callbridge.contacts.service import ContactService
from callbridge.logs import event
from callbridge.phone import digits_shown, display
from callbridge.timeutil import utc_now_iso

log = logging.getLogger("callbridge.contacts")
SHOWN_NUMBERS = "shown_numbers_v1"


def corrected(row: dict, keys: list[tuple[str, bool]], region: str) -> dict:
    """The changes that show the row's numbers as display() does now: {} when it already does.
    Only a shown form that is exactly the old form of one of the contact's keys (its digits,
    whatever they read as: phone.digits_shown) is replaced."""
    fixes = {old: new for key, _ in keys
             if (old := digits_shown(key, region)) != (new := display(key, region))}
    if not fixes:
        return {}
    changes: dict = {}
    mobile = row.get("mobile_phone")
    if mobile in fixes:
        changes["mobile_phone"] = fixes[mobile]
    others = row.get("phone_numbers") or []
    if any(n in fixes for n in others):
        changes["phone_numbers"] = [fixes.get(n, n) for n in others]
    if changes:  # the write re-keys what it is given from the shown forms: give it both, right
        changes.setdefault("mobile_phone", mobile)
        changes.setdefault("phone_numbers", others)
    return changes


async def repair_shown_numbers(contacts: ContactService,
                               accounts: Callable[[], Awaitable[list[Account]]]) -> int | None:
    """Repairs every account's contacts once; how many changed (None: done before)."""
    store = contacts.store
    if await store.repair_done(SHOWN_NUMBERS):
        return None
    changed = 0
    for account in await accounts():
        home = f"+{phonenumbers.country_code_for_region(account.region)}"
        for uuid in await store.foreign_number_contacts(account.id, home):
            found = await store.numbers_of(account.id, uuid)
            if found is None:  # deleted meanwhile
                continue
            changes = corrected(found[0], found[1], account.region)
            if changes:
                await contacts.update_values(account, "uuid", uuid, changes)
                changed += 1
    await store.mark_repaired(SHOWN_NUMBERS, changed, utc_now_iso())
    event(log, "contacts.repaired", repair=SHOWN_NUMBERS, changed=changed)
    return changed
