"""The contacts rules: accounts kept apart, versions, normalization, memberships, tombstones.

No HTTP and no SQL here: routes call these methods, the store runs the SQL. Every write is one
transaction, so a failed request leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import functools
import uuid as uuidlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import TypeAdapter

from callbridge.accounts.models import Account
from callbridge.contacts import models as m
from callbridge.contacts.cache import LookupCache
from callbridge.contacts.groups import GroupService
from callbridge.contacts.lookup import ContactLookup
from callbridge.contacts.rules import GROUP_NOT_FOUND
from callbridge.contacts.rules import contact_of as _contact
from callbridge.contacts.rules import not_found as _not_found
from callbridge.contacts.rules import stored_uuid as _uuid
from callbridge.contacts.store import ContactStore
from callbridge.contacts.writes import AccountWrites
from callbridge.db import Db, Tx
from callbridge.errors import Conflict, DomainError, InvalidInput
from callbridge.phone import digits_of, display, looks_like_phone, phone_key, shown_to_keys
from callbridge.text import fold
from callbridge.timeutil import utc_now_iso

_IDENTITY = ("firstname", "lastname", "organization", "mobile_phone", "phone_numbers", "email",
             "external_id", "crm_id")
_HINT_ORDER = ("organization", "email", "mobile_phone", "phone_numbers", "note")


# Rows per batch of a whole-account read: big enough that per-batch costs vanish, small enough
# that one batch holds the loop for a few milliseconds and memory stays flat (docs/benchmarks.md).
BATCH = 500


async def _validated(batches: AsyncIterator[list[dict]], model) -> AsyncIterator[list]:
    adapter = _list_adapter(model)
    async for rows in batches:
        yield adapter.validate_python(rows)


@functools.cache
def _list_adapter(model) -> TypeAdapter:
    return TypeAdapter(list[model])


async def _nothing() -> AsyncIterator[list]:
    return
    yield


def _numbers(values: dict, region: str) -> tuple[str | None, list[str]]:
    """Turns the written numbers among values into what the WebFones API shows (display) and
    returns their matching keys (mobile, others). Two spellings of one number are one number."""
    mobile_key, keys = None, {}  # type: str | None, dict[str, None]
    if values.get("mobile_phone"):
        mobile_key = phone_key(values["mobile_phone"], region)
        values["mobile_phone"] = display(mobile_key, region)
    if values.get("phone_numbers"):
        for written in values["phone_numbers"]:
            keys.setdefault(phone_key(written, region), None)
        values["phone_numbers"] = [display(k, region) for k in keys]
    return mobile_key, list(keys)


def _same(stored: Any, given: Any) -> bool:
    """A stored column and an imported value say the same: empty is empty ('' / None / []),
    a flag stored 0/1 is the bool."""
    if isinstance(given, bool):
        return bool(stored) == given
    return (stored or None) == (given or None)


def primary_number(row: dict, region: str) -> str | None:
    """A stored contact's one number for the dialects that show one (AgentVoice's phone,
    Relatel's number): the mobile, else the first other number, read back as its key (E.164
    when it is one). None when the contact has no number."""
    shown = row["mobile_phone"] or (row["phone_numbers"][0] if row["phone_numbers"] else None)
    if not shown:
        return None
    try:
        return phone_key(shown, region)
    except ValueError:  # stored before numbers were checked: shown as it is
        return shown


def _key_of(number: str, region: str, field: str = "number") -> str:
    """The matching key of a number a client gave; 400 naming the field if it is none."""
    try:
        key = phone_key(number, region)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None
    if not key:
        raise InvalidInput("must contain at least one digit", field=field)
    return key


def _require_identity(values: dict) -> None:
    """What POST requires, and what no PUT may take away."""
    if not any(values.get(f) for f in _IDENTITY):
        raise InvalidInput("a contact needs at least a name, organization, phone number,"
                           " email or external_id", field="body")


def _export_batch(rows: list[dict], keys: dict[int, list[str]], region: str
                  ) -> list[tuple[m.Contact, dict[str, str]]]:
    """A batch of stored rows as contacts, each with {shown number: key} (pure: no database)."""
    contacts = _list_adapter(m.Contact).validate_python(rows)
    return [(c, shown_to_keys(keys.get(r["id"], []), region))
            for c, r in zip(contacts, rows, strict=True)]


class ContactService:
    def __init__(self, db: Db, store: ContactStore | None = None,
                 cache: LookupCache | None = None):
        self.db = db
        self.store = store or ContactStore(db)
        # who holds a number, for the other rooms (caller ID, screen-pop, the call log, the
        # dialer): its cache is forgotten after every write here
        self.lookup = ContactLookup(self.store, cache)
        self.cache = self.lookup.cache
        self.writes = AccountWrites(db, self.cache)
        self.groups = GroupService(self.store, self.writes)  # the contact groups

    # ---- reads ---------------------------------------------------------------------------

    @asynccontextmanager
    async def list_pages(self, account: Account, q: m.ListQuery,
                         stored: bool = False) -> AsyncIterator[m.ContactPages]:
        """The account's contacts in id order, from one snapshot, in bounded batches: all of
        them, or (with limit) one page and the link to the next. Used within the context.
        Each batch is the JSON array of Contact (bytes), or with stored the rows' stored fields
        (for a dialect's own shape)."""
        async with self.db.snapshot() as snap:
            start = q.after or 0
            low = await self.store.id_at(snap, account.id, start, q.offset) if q.offset else start
            if low is None:  # the offset skips past the last contact
                yield m.ContactPages(None, _nothing())
                return
            cut = None
            if q.limit is not None:
                cut = await self.store.id_at(snap, account.id, low, q.limit)
            link = f"/contacts/contacts?limit={q.limit}&after={cut}" if cut is not None else None
            yield m.ContactPages(link, (self.store.contacts_by if stored else
                                        self.store.contacts_json_by)(snap, "id", account.id, low,
                                                                     cut, BATCH))

    @asynccontextmanager
    async def export_batches(self, account: Account
                             ) -> AsyncIterator[AsyncIterator[list[tuple[m.Contact, dict]]]]:
        """Every contact of the account from one snapshot, in bounded batches, each with how its
        shown numbers read as keys ({shown: key}): an export writes '+4571999999' where the
        WebFones form shows 4571999999 (a US phone would read that as (457) 199-9999)."""
        async with self.db.snapshot() as snap:
            async def batches() -> AsyncIterator[list[tuple[m.Contact, dict]]]:
                async for rows in self.store.contacts_by(snap, "id", account.id, 0, None, BATCH):
                    keys = await self.store.phone_keys(snap, [r["id"] for r in rows])
                    # ~20 ms of validation and number formatting a batch: in a worker thread,
                    # so a 1 M-contact export does not take the loop's turns from other requests
                    yield await asyncio.to_thread(_export_batch, rows, keys, account.region)
            yield batches()

    async def _detail(self, d: dict | None) -> m.ContactDetail:
        if d is None:
            raise _not_found()
        d["groups"] = await self.store.groups_of(d["id"])
        return m.ContactDetail.model_validate(d)

    async def row(self, account: Account, contact_uuid: str) -> dict:
        """A contact's stored fields (every dialect's), for the dialects' own shapes."""
        d = await self.store.get(account.id, _uuid(contact_uuid))
        if d is None:
            raise _not_found()
        return d

    async def row_by_id(self, account: Account, contact_id: int) -> dict:
        d = await self.store.by_id(account.id, contact_id)
        if d is None:
            raise _not_found()
        return d

    async def row_by_number(self, account: Account, number: str) -> dict:
        """The contact holding this number in any written form; several: the oldest."""
        d = await self.store.holding(account.id, _key_of(number, account.region))
        if d is None:
            raise _not_found()
        return d

    async def rows_from(self, account: Account, first_id: int, limit: int,
                        number: str | None = None) -> list[dict]:
        key = _key_of(number, account.region) if number else None
        return await self.store.from_id(account.id, first_id, limit, key)

    async def row_by_crm(self, account: Account, crm_source: str, crm_id: str) -> dict:
        d = await self.store.by_crm(account.id, crm_source, crm_id)
        if d is None:
            raise _not_found()
        return d

    async def get(self, account: Account, contact_uuid: str) -> m.ContactDetail:
        return await self._detail(await self.store.get(account.id, _uuid(contact_uuid)))

    async def get_by_external_id(self, account: Account, external_id: str) -> m.ContactDetail:
        return await self._detail(await self.store.get_by_external_id(account.id, external_id))

    async def find_by_mobile(self, account: Account, number: str) -> m.Contact:
        d = await self.store.by_mobile(account.id, phone_key(number, account.region))
        if d is None:
            raise _not_found()
        return _contact(d)

    async def find_by_mobiles(self, account: Account, numbers: list[str]) -> list[m.Contact]:
        keys = sorted({phone_key(n, account.region) for n in numbers})
        return [_contact(d) for d in await self.store.by_mobiles(account.id, keys)]

    async def find_by_email(self, account: Account, email: str) -> m.Contact:
        d = await self.store.by_email(account.id, email)
        if d is None:
            raise _not_found()
        return _contact(d)

    async def find_by_phone_exact(self, account: Account, number: str) -> list[m.Contact]:
        rows = await self.store.by_numbers(account.id, [phone_key(number, account.region)],
                                           mobile=False)
        return [_contact(d) for _, d in rows]

    async def find_by_numbers(self, account: Account, raw_numbers: list[str]) -> dict[str, list[m.Contact]]:
        """Each input number (as given) → the contacts holding it as mobile or other phone."""
        normalized: dict[str, str] = {}
        for i, raw in enumerate(raw_numbers):
            try:
                normalized[raw] = phone_key(raw, account.region)
            except ValueError as exc:
                raise InvalidInput(str(exc), field=f"phone_numbers.{i}") from None
        wanted = sorted({n for n in normalized.values() if n})
        by_number: dict[str, dict[str, m.Contact]] = {}
        if wanted:
            for number, d in await self.store.by_numbers(account.id, wanted):
                by_number.setdefault(number, {})[d["uuid"]] = _contact(d)
        return {raw: list(by_number.get(n, {}).values()) for raw, n in normalized.items()}

    async def search_name(self, account: Account, q: m.NameQuery) -> list[m.ContactHit]:
        text = fold(" ".join(q.searchString.split())) or ""
        first, _, last = text.partition(" ")
        rows = await self.store.search_names(account.id, text, first if last else None,
                                             last or None, q.limit)
        hits = []
        for d in rows:
            # A match on the whole name ("John Doe") starts in the first name: the seed's example
            # answers it with "firstname".
            matched_last = (fold(d["lastname"]) or "").startswith(text) and \
                not (fold(d["firstname"]) or "").startswith(first)
            d["hint_data"] = "lastname" if matched_last else "firstname"
            hits.append(m.ContactHit.model_validate(d))
        return hits

    async def search_mobile_like(self, account: Account, q: m.MobileLikeQuery) -> list[m.Contact]:
        rows = await self.store.search_mobile_substring(account.id, digits_of(q.mobile_phone),
                                                        q.limit)
        return [_contact(d) for d in rows]

    async def search(self, account: Account, q: m.AdvancedQuery) -> list[m.ContactHit]:
        group_id = None
        if q.groupUUID:
            group_id = await self.store.group_id(account.id, _uuid(q.groupUUID))
            if group_id is None:
                raise _not_found(GROUP_NOT_FOUND)
        text = fold(q.searchString) or None
        digits = digits_of(text) if text and looks_like_phone(text) else None
        rows = await self.store.search_advanced(account.id, text, digits, q.letter, group_id,
                                                q.limit)
        for d in rows:
            d["hint_data"] = _hint(d, text, digits, q.letter)
        return [m.ContactHit.model_validate(d) for d in rows]

    @asynccontextmanager
    async def changes_after(self, account: Account, version: int,
                            q: m.SyncQuery) -> AsyncIterator[m.SyncPages]:
        """What changed after `version`, from one snapshot: updated contacts then tombstones,
        each in version order, in bounded batches. With limit: the first `limit` changes (both
        kinds together, in version order) and the link that resumes after the last of them; a
        CRM can also resume by itself from the highest version it has seen."""
        async with self.db.snapshot() as snap:
            cut = None
            if q.limit is not None:
                cut = await self.store.version_at(snap, account.id, version, q.limit)
            link = (f"/contacts/contactsAfterVersion/{cut}?limit={q.limit}"
                    if cut is not None else None)
            yield m.SyncPages(
                link,
                self.store.contacts_json_by(snap, "version", account.id, version, cut, BATCH),
                _validated(self.store.tombstones(snap, account.id, version, cut, BATCH),
                           m.Tombstone))

    # ---- contact writes ------------------------------------------------------------------

    async def create(self, account: Account, body: m.ContactWrite) -> m.Created:
        return m.Created(uuid=await self.create_values(
            account, body.column_values(only_set=False), body.group_uuids() or []))

    async def update(self, account: Account, contact_uuid: str, body: m.ContactWrite) -> m.Updated:
        return m.Updated(uuid=await self.update_values(
            account, "uuid", _uuid(contact_uuid), body.column_values(only_set=True),
            body.group_uuids()))

    async def update_by_external_id(self, account: Account, external_id: str,
                                    body: m.ContactWrite) -> m.Updated:
        return m.Updated(uuid=await self.update_values(
            account, "external_id", external_id, body.column_values(only_set=True),
            body.group_uuids()))

    # The one write path of every dialect (WebFones, AgentVoice, Relatel): values are stored
    # columns (store.FIELDS) as the client wrote them; numbers are keyed here, versions and
    # tombstones kept here, each call one transaction.

    async def create_values(self, account: Account, values: dict, group_uuids=(),
                            created_by: str | None = None) -> str:
        """Creates a contact; returns its uuid."""
        keys = _numbers(values, account.region)
        _require_identity(values)
        async with self.writes.transaction(account) as tx:
            return await self._insert(tx, account, values, keys, list(group_uuids), created_by)

    async def update_values(self, account: Account, key: str, value: str | int, changes: dict,
                            group_uuids: list[str] | None = None) -> str:
        """Changes the fields given of the contact whose `key` column is `value`; its uuid."""
        _numbers(changes, account.region)
        async with self.writes.transaction(account) as tx:
            current = await self.store.row_for_update(tx, account.id, key, value)
            if current is None:
                raise _not_found()
            await self._apply(tx, account, current, changes, group_uuids)
        return current["uuid"]

    async def upsert_by_crm(self, account: Account, crm_source: str, crm_id: str, values: dict,
                            created_by: str | None, on_create: dict | None = None
                            ) -> tuple[bool, str]:
        """Creates (with on_create, default: values), or updates with the fields given in values,
        the contact with this CRM identity, in one transaction: deliveries of the same CRM
        contact at once make one contact. Returns (created, uuid)."""
        identity = {"crm_source": crm_source, "crm_id": crm_id}
        async with self.writes.transaction(account) as tx:
            owner = await self.store.crm_owner(tx, account.id, crm_source, crm_id)
            if owner is None:
                new = {**(on_create if on_create is not None else values), **identity}
                keys = _numbers(new, account.region)
                _require_identity(new)
                return True, await self._insert(tx, account, new, keys, [], created_by)
            changes = dict(values)
            _numbers(changes, account.region)
            current = await self.store.row_for_update(tx, account.id, "uuid", owner)
            assert current is not None  # found by its key in this write turn
            await self._apply(tx, account, current, changes, None)
            return False, owner

    async def import_batch(self, account: Account, items: list[tuple[int, m.ContactWrite]]
                           ) -> list[tuple[int, str, str | None]]:
        """Imports contacts in one transaction: each one created, or, when its external_id is
        already the account's, updated with the fields it carries. A contact the rules refuse
        (a duplicate CRM id, no name …) is rolled back alone (a savepoint) and reported; the
        others are written. Returns (line, "created" | "updated" | "unchanged" | "rejected",
        reason), in the order of items.

        New contacts are checked one by one as POST checks them, then written together (one
        statement per table for the lot, _create_all): most of a first import. A record that
        updates a contact (its external_id is held, also by a record earlier in the batch) or
        names groups goes the one-by-one way, after the new contacts before it are written,
        so the order of the file is the order of the writes."""
        out: list[tuple[int, str, str | None]] = [(line, "", None) for line, _ in items]
        async with self.writes.transaction(account, loop=True) as tx, \
                self.store.search_index_deferred(tx):
            held = await self.store.external_ids_held(
                tx, account.id, [b.external_id for _, b in items if b.external_id])
            new: list[tuple[int, dict, tuple[str | None, list[str]]]] = []
            for i, (line, body) in enumerate(items):
                if body.external_id in held or body.group_uuids():
                    await self._create_all(tx, account, new, out)
                    new = []
                    out[i] = await self._import_alone(tx, account, line, body)
                else:
                    try:
                        values = body.column_values(only_set=False)
                        keys = _numbers(values, account.region)
                        _require_identity(values)
                    except DomainError as exc:
                        out[i] = (line, "rejected", exc.message or exc.error)
                        continue
                    new.append((i, values, keys))
                if body.external_id and out[i][1] != "rejected":
                    held.add(body.external_id)  # a later record with it updates this contact
            await self._create_all(tx, account, new, out)
        return out

    async def _import_alone(self, tx: Tx, account: Account, line: int,
                            body: m.ContactWrite) -> tuple[int, str, str | None]:
        try:
            async with tx.savepoint():
                outcome = await self._import_one(tx, account, body)
        except DomainError as exc:
            return line, "rejected", exc.message or exc.error
        return line, outcome, None

    async def _create_all(self, tx: Tx, account: Account,
                          new: list[tuple[int, dict, tuple[str | None, list[str]]]],
                          out: list[tuple[int, str, str | None]]) -> None:
        """Writes checked new contacts together: their ids and versions reserved at once, in
        the batch's order, one INSERT per table for all of them."""
        if not new:
            return
        version = await self.store.next_versions(tx, account.id, len(new))
        ids = await self.store.insert_many(
            tx, account.id, [(str(uuidlib.uuid4()), values) for _, values, _ in new], version,
            utc_now_iso())
        await self.store.add_phones(tx, account.id,
                                    [(cid, *keys) for cid, (_, _, keys) in zip(ids, new,
                                                                             strict=True)])
        for i, _, _ in new:
            out[i] = (out[i][0], "created", None)

    async def _import_one(self, tx: Tx, account: Account, body: m.ContactWrite) -> str:
        current = None
        if body.external_id:
            current = await self.store.row_for_update(tx, account.id, "external_id",
                                                      body.external_id)
        if current is None:
            values = body.column_values(only_set=False)
            keys = _numbers(values, account.region)
            _require_identity(values)
            await self._insert(tx, account, values, keys, [], None)
            return "created"
        changes = body.column_values(only_set=True)
        _numbers(changes, account.region)
        if all(_same(current.get(name), value) for name, value in changes.items()):
            # what it holds already: no write, no new version (a re-import of an unchanged file
            # once moved every contact's version, and every CRM syncing by version re-read all)
            return "unchanged"
        await self._apply(tx, account, current, changes, None)
        return "updated"

    async def _insert(self, tx, account: Account, values: dict, keys, group_uuids: list[str],
                      created_by: str | None) -> str:
        new_uuid = str(uuidlib.uuid4())
        if created_by is not None:
            values["created_by"] = created_by
        group_ids = await self._resolve_groups(tx, account, group_uuids)
        await self._check_unique(tx, account, values, None)
        version = await self.store.next_versions(tx, account.id)
        cid = await self.store.insert(tx, account.id, new_uuid, values, version, utc_now_iso())
        await self.store.replace_phones(tx, account.id, cid, *keys)
        await self.store.replace_memberships(tx, cid, group_ids)
        return new_uuid

    async def _apply(self, tx, account: Account, current: dict, changes: dict,
                     group_uuids: list[str] | None) -> None:
        merged = {**current, **changes}
        _require_identity(merged)
        group_ids = None
        if group_uuids is not None:
            group_ids = await self._resolve_groups(tx, account, group_uuids)
        await self._check_unique(tx, account, changes, current)
        version = await self.store.next_versions(tx, account.id)
        await self.store.update(tx, current["id"], changes, version, utc_now_iso())
        if "mobile_phone" in changes or "phone_numbers" in changes:
            # shown forms read back as the same keys
            await self.store.replace_phones(tx, account.id, current["id"],
                                            *_numbers(merged, account.region))
        if group_ids is not None:
            await self.store.replace_memberships(tx, current["id"], group_ids)

    async def delete(self, account: Account, contact_uuid: str) -> m.Deleted:
        return await self._delete(account, "uuid", _uuid(contact_uuid))

    async def delete_by_external_id(self, account: Account, external_id: str) -> m.Deleted:
        return await self._delete(account, "external_id", external_id)

    async def _delete(self, account: Account, key: str, value: str) -> m.Deleted:
        async with self.writes.transaction(account) as tx:
            current = await self.store.row_for_update(tx, account.id, key, value)
            if current is None:
                raise _not_found()
            version = await self.store.next_versions(tx, account.id)
            await self.store.delete(tx, account.id, current["id"], current["uuid"], version,
                                    utc_now_iso())
        return m.Deleted(uuid=current["uuid"])

    async def _resolve_groups(self, tx, account: Account, uuids: list[str]) -> list[int]:
        uuids = [_uuid(u) for u in uuids]
        found = await self.store.group_ids(tx, account.id, uuids)
        for i, u in enumerate(uuids):
            if u not in found:
                raise InvalidInput(f"no group with uuid {u!r} in this account", field=f"groups.{i}",
                                   error=GROUP_NOT_FOUND)
        return [found[u] for u in uuids]

    async def _check_unique(self, tx, account: Account, changes: dict,
                            current: dict | None) -> None:
        """external_id, and the (crm_source, crm_id) pair, are unique per account: 409."""
        own = current["uuid"] if current else None
        external_id = changes.get("external_id")
        if external_id is not None:
            owner = await self.store.external_id_owner(tx, account.id, external_id)
            if owner is not None and owner != own:
                raise Conflict(f"external_id {external_id!r} already belongs to contact {owner}",
                               error="Duplicate external_id", field="external_id")
        if "crm_id" in changes or "crm_source" in changes:
            pair = {**(current or {}), **changes}
            if pair.get("crm_id") is not None:
                owner = await self.store.crm_owner(tx, account.id, pair.get("crm_source"),
                                                   pair["crm_id"])
                if owner is not None and owner != own:
                    raise Conflict(f"crm_id {pair['crm_id']!r} of {pair.get('crm_source')!r}"
                                   f" already belongs to contact {owner}",
                                   error="A contact with this CRM ID already exists",
                                   field="crm_id")



def _hint(d: dict, text: str | None, digits: str | None, letter: str | None) -> str:
    """Names the first field the (folded) search text matched; the trigram index doesn't say
    which. A match across first and last name reports firstname, as the seed does."""
    if not text:
        return "lastname" if letter else "groups"
    first, last = fold(d["firstname"]) or "", fold(d["lastname"]) or ""
    if text in last and text not in first:
        return "lastname"
    if text in first or text in f"{first} {last}":
        return "firstname"
    for field in _HINT_ORDER:
        value = d.get(field)
        if field == "phone_numbers":
            if any(text in n or (digits and digits in n) for n in value or []):
                return field
        elif value and (text in (fold(str(value)) or "") or (digits and field == "mobile_phone"
                                                     and digits in value)):
            return field
    return "firstname"
