"""SQL for contacts, groups and memberships. Returns plain dicts; knows nothing of HTTP.

Write methods take the transaction handle (``Tx``) the service opened, so one API call is one
transaction however many statements it needs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from callbridge.contacts.encode import FIELDS as CONTACT_FIELDS
from callbridge.contacts.encode import rows_json, stored_numbers
from callbridge.db import Db, Snapshot, Tx, in_chunks
from callbridge.text import fold, prefix_range

# The union of every dialect's fields (WebFones, AgentVoice's crm_id/crm_source and the creating
# key, created_by); each dialect shows its own.
FIELDS = ("firstname", "lastname", "organization", "organization_flag", "user_id", "phone_numbers",
          "mobile_phone", "email", "address", "city", "state", "zip", "country", "note",
          "profile_url", "external_id", "crm_id", "crm_source", "created_by")

_COLS_OF = {  # the columns of a contact, by engine: only the name of string aggregation differs
    engine: "c.id, c.uuid, " + ", ".join(f"c.{f}" for f in FIELDS) +
    f", c.version, c.created_at, c.updated_at, (SELECT {concat}"
    " FROM contact_groups cg JOIN groups g ON g.id = cg.group_id"
    " WHERE cg.contact_id = c.id) AS group_uuids"
    for engine, concat in (("sqlite", "group_concat(g.uuid)"),
                           ("postgresql", "string_agg(g.uuid, ',')"))}


# CROSS JOIN pins the trigram index as the outer loop. With a plain JOIN the planner walks the
# account's contacts and probes the index for each: minutes instead of milliseconds at 1M rows.
_FTS_FIRST = "contacts_fts f CROSS JOIN contacts c ON c.id = f.rowid"
_MOBILE_FTS_FIRST = "contacts_mobile_fts f CROSS JOIN contacts c ON c.id = f.rowid"


# Text matched case- and width-insensitively, and the key column holding fold() of it
# (migration 0004): written beside the text on every write, compared on every search.
KEYED = {"firstname": "firstname_key", "lastname": "lastname_key",
         "organization": "organization_key", "email": "email_key"}


def _columns(values: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """The stored columns and values of a write: JSON for phone lists, keys beside keyed text."""
    cols: list[str] = []
    data: list[Any] = []
    for f in FIELDS:
        if f in values:
            cols.append(f)
            if f == "phone_numbers":  # most contacts have none: no encoder call for them
                data.append("[]" if values[f] == [] else json.dumps(values[f]))
            else:
                data.append(values[f])
            if f in KEYED:
                cols.append(KEYED[f])
                data.append(fold(values[f]))
    return cols, data


def _key_range(column: str, prefix: str, low: str, high: str, params: dict[str, Any]) -> str:
    """SQL for 'column starts with prefix' as an index range (no LIKE, no function)."""
    params[low], params[high] = prefix_range(prefix)
    if params[high] is None:
        return f"c.{column} >= :{low}"
    return f"(c.{column} >= :{low} AND c.{column} < :{high})"


def like_pattern(text: str) -> str:
    """'%text%' for LIKE with backslash escapes (the default escape of PostgreSQL's LIKE)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return _row_from_dict(dict(r))


def _json_of(field: str) -> str:
    """SQLite's expression for a Contact field's JSON value (see _CONTACT_JSON)."""
    if field == "organization_flag":
        return "json(CASE WHEN c.organization_flag THEN 'true' ELSE 'false' END)"
    if field == "phone_numbers":  # decoded and written again: stored \u escapes come out as text
        return "(SELECT json_group_array(value) FROM json_each(c.phone_numbers))"
    if field == "groups":  # sorted as the model's rows sort them (binary order)
        return ("(SELECT json_group_array(u) FROM (SELECT g.uuid AS u FROM contact_groups cg"
                " JOIN groups g ON g.id = cg.group_id WHERE cg.contact_id = c.id ORDER BY g.uuid))")
    return f"c.{field}"


# A contact as the JSON of the Contact model, written by SQLite (json_object escapes as
# pydantic does: tests/contacts/test_encode.py compares them on hostile values).
_CONTACT_JSON = "json_object(" + ", ".join(f"'{f}', {_json_of(f)}" for f in CONTACT_FIELDS) + ")"


def _joined(rows: Sequence[Any]) -> bytes:
    """Rows whose last column is a contact's JSON, as one JSON array."""
    return ("[" + ",".join(r[2] for r in rows) + "]").encode()


def _rows(rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    """Many rows of one query: the column names are read once (dict(row) asks each row for its
    keys again; this halves the cost of a 1,000-contact sync page)."""
    if not rows:
        return []
    names = list(rows[0].keys())
    return [_row_from_dict(dict(zip(names, r, strict=True))) for r in rows]


def _row_from_dict(d: dict[str, Any]) -> dict[str, Any]:
    d["phone_numbers"] = stored_numbers(d["phone_numbers"])
    uuids = d.pop("group_uuids")
    d["groups"] = sorted(uuids.split(",")) if uuids else []
    return d  # organization_flag stays 0/1: the response model makes it a bool


T = TypeVar("T")
_NO_END = 2**63 - 1  # above every id and version: SQLite integers are 64-bit


async def _keyset(snap: Snapshot, select: str, key: str, account_id: int, low: int,
                  high: int | None, batch: int, convert: Callable[[Any], T]) -> AsyncIterator[T]:
    """Keyset paging: each batch starts after the last key of the one before, so batch N costs
    what batch 1 does (OFFSET would re-walk everything before it). (Fetching the next batch
    while converting this one was tried: no faster, the fetch needs the GIL as much.)"""
    column = key.rsplit(".", 1)[-1]
    while True:
        rows = await snap.fetchall(f"{select} AND {key} > ? AND {key} <= ? ORDER BY {key} LIMIT ?",
                                   (account_id, low, _NO_END if high is None else high, batch))
        if not rows:
            return
        low = rows[-1][column]
        yield convert(rows)
        if len(rows) < batch:
            return


class ContactStore:
    def __init__(self, db: Db):
        self.db = db

    # ---- reads ---------------------------------------------------------------------------

    async def _select(self, where: str, params: Sequence[Any], tail: str = "") -> list[dict]:
        rows = await self.db.fetchall(
            f"SELECT {_COLS_OF[self.db.engine]} FROM contacts c WHERE {where} {tail}", params)
        return _rows(rows)

    async def _first(self, where: str, params: Sequence[Any]) -> dict | None:
        """The first contact matching an indexed equality: a point lookup (see Database.lookup)."""
        rows = await self.db.lookup(
            f"SELECT {_COLS_OF[self.db.engine]} FROM contacts c WHERE {where} ORDER BY c.id LIMIT 1",
            params)
        return _row(rows[0]) if rows else None

    async def get(self, account_id: int, uuid: str) -> dict | None:
        return await self._first("c.account_id = ? AND c.uuid = ?", (account_id, uuid))

    async def get_by_external_id(self, account_id: int, external_id: str) -> dict | None:
        return await self._first("c.account_id = ? AND c.external_id = ?", (account_id, external_id))

    async def groups_of(self, contact_id: int) -> list[dict]:
        # a contact's memberships: an index range as small as its group count, so a point lookup
        rows = await self.db.lookup(
            "SELECT g.uuid, g.name FROM contact_groups cg JOIN groups g ON g.id = cg.group_id"
            " WHERE cg.contact_id = ? ORDER BY g.name", (contact_id,))
        return [dict(r) for r in rows]

    async def by_mobile(self, account_id: int, key: str) -> dict | None:
        """The first contact whose mobile has this matching key (contact_phones index)."""
        return await self._first("c.id = (SELECT p.contact_id FROM contact_phones p WHERE"
                                 " p.account_id = ? AND p.number = ? AND p.is_mobile = 1"
                                 " ORDER BY p.contact_id LIMIT 1)", (account_id, key))

    async def by_mobiles(self, account_id: int, keys: list[str]) -> list[dict]:
        marks = ",".join("?" * len(keys))
        return await self._select(
            f"c.id IN (SELECT p.contact_id FROM contact_phones p WHERE p.account_id = ?"
            f" AND p.number IN ({marks}) AND p.is_mobile = 1)", (account_id, *keys), "ORDER BY c.id")

    async def by_email(self, account_id: int, email: str) -> dict | None:
        return await self._first("c.account_id = ? AND c.email_key = ?", (account_id, fold(email)))

    async def by_numbers(self, account_id: int, numbers: list[str],
                         mobile: bool | None = None) -> list[tuple[str, dict]]:
        """(number, contact) for every contact holding one of numbers (mobile or other)."""
        marks = ",".join("?" * len(numbers))
        kind = "" if mobile is None else f" AND p.is_mobile = {int(mobile)}"
        rows = await self.db.fetchall(
            f"SELECT DISTINCT p.number AS matched, {_COLS_OF[self.db.engine]} FROM contact_phones p"
            f" JOIN contacts c ON c.id = p.contact_id"
            f" WHERE p.account_id = ? AND p.number IN ({marks}){kind} ORDER BY c.id",
            (account_id, *numbers))
        out = []
        for r in rows:
            d = dict(r)
            matched = d.pop("matched")
            out.append((matched, _row_from_dict(d)))
        return out

    async def first_holding(self, account_id: int, number: str) -> dict | None:
        """The first contact holding this number key (mobile or other): a point lookup
        on the contact_phones index (Database.lookup). For screen-pop, the call log's naming and
        the dialer's display name, where a thread hop per call would dominate."""
        rows = await self.db.lookup(
            "SELECT c.uuid, c.firstname, c.lastname, c.organization, c.note, c.profile_url,"
            " c.external_id, c.email FROM contact_phones p"
            " JOIN contacts c ON c.id = p.contact_id WHERE p.account_id = ? AND p.number = ?"
            " ORDER BY c.id LIMIT 1", (account_id, number))
        return dict(rows[0]) if rows else None

    async def first_holding_each(self, account_id: int, numbers: list[str]) -> dict[str, dict]:
        """first_holding for many number keys in one query: key -> its oldest contact (keys no
        contact holds are absent). For the call log's rows, named a flush at a time."""
        found: dict[str, dict] = {}
        for chunk in in_chunks(numbers):
            rows = await self.db.fetchall(
                "SELECT p.number AS matched, c.uuid, c.firstname, c.lastname, c.organization,"
                " c.note, c.profile_url, c.external_id, c.email FROM contact_phones p"
                " JOIN contacts c ON c.id = p.contact_id WHERE p.account_id = ?"
                f" AND p.number IN ({','.join('?' * len(chunk))}) ORDER BY c.id",
                (account_id, *chunk))
            for r in rows:
                d = dict(r)
                found.setdefault(d.pop("matched"), d)
        return found

    async def search_names(self, account_id: int, word: str, first: str | None,
                           last: str | None, limit: int) -> list[dict]:
        """Contacts whose first or last name starts with word, or (first, last) for 'john doe'.
        All three are folded keys (callbridge.text.fold)."""
        params: dict[str, Any] = {"a": account_id, "n": limit}
        either = [_key_range("firstname_key", word, "wl", "wh", params),
                  _key_range("lastname_key", word, "wl", "wh", params)]
        if first and last:
            either.append(_key_range("firstname_key", first, "fl", "fh", params) + " AND "
                          + _key_range("lastname_key", last, "ll", "lh", params))
        rows = await self.db.fetchall(
            f"SELECT {_COLS_OF[self.db.engine]} FROM contacts c WHERE c.account_id = :a"
            f" AND ({' OR '.join(either)})"
            " ORDER BY c.lastname_key, c.firstname_key, c.id LIMIT :n", params)
        return _rows(rows)

    async def search_mobile_substring(self, account_id: int, digits: str, limit: int) -> list[dict]:
        if self.db.engine == "postgresql":  # pg_trgm's index on mobile_phone serves LIKE
            rows = await self.db.fetchall(
                f"SELECT {_COLS_OF['postgresql']} FROM contacts c WHERE c.account_id = ?"
                " AND c.mobile_phone LIKE ? LIMIT ?", (account_id, like_pattern(digits), limit))
            return _rows(rows)
        columns = _COLS_OF["sqlite"]
        if len(digits) >= 3:  # trigram index
            rows = await self.db.fetchall(
                f"SELECT {columns} FROM {_MOBILE_FTS_FIRST} WHERE contacts_mobile_fts MATCH ?"
                " AND c.account_id = ? LIMIT ?",
                (fts_phrase(digits), account_id, limit))
        else:  # too short for trigrams: a scan, but LIMIT stops it early on common digits
            rows = await self.db.fetchall(
                f"SELECT {columns} FROM contacts c WHERE c.account_id = ?"
                " AND instr(c.mobile_phone, ?) > 0 LIMIT ?", (account_id, digits, limit))
        return _rows(rows)

    async def search_advanced(self, account_id: int, text: str | None, digits: str | None,
                              letter: str | None, group_id: int | None, limit: int) -> list[dict]:
        """text: already folded (callbridge.text.fold), as the name/organization/email columns
        of the substring index and the key columns are."""
        where = ["c.account_id = :a"]
        params: dict[str, Any] = {"a": account_id, "n": limit}
        source = "contacts c"
        columns = _COLS_OF[self.db.engine]
        if text and self.db.engine == "postgresql":
            # search_text: SQLite's contacts_fts columns in one, under a pg_trgm index
            params["t"] = like_pattern(text)
            if digits and digits != text:
                # Two index-driven halves: with one "A OR B" under a LIMIT the planner bets on
                # a scan stopping early, which reads every row when few or none match.
                params["d"] = like_pattern(digits)
                where.append("c.id IN (SELECT id FROM contacts WHERE account_id = :a AND"
                             " search_text ILIKE :t UNION SELECT id FROM contacts"
                             " WHERE account_id = :a AND phones_text LIKE :d)")
            else:
                where.append("c.search_text ILIKE :t")
        elif text:
            if len(text) >= 3 and (digits is None or len(digits) >= 3):
                query = fts_phrase(text)
                if digits and digits != text:
                    query += " OR {mobile phones} : " + fts_phrase(digits)
                source = _FTS_FIRST
                where.append("contacts_fts MATCH :q")
                params["q"] = query
            else:
                params["t"] = like_pattern(text)
                cols = ["firstname_key", "lastname_key", "organization_key", "email_key", "note",
                        "mobile_phone", "phone_numbers"]
                cond = " OR ".join(f"c.{col} LIKE :t ESCAPE '\\'" for col in cols)
                if digits:
                    params["d"] = "%" + digits + "%"
                    cond += " OR c.mobile_phone LIKE :d OR c.phone_numbers LIKE :d"
                where.append(f"({cond})")
        if letter:
            where.append(_key_range("lastname_key", fold(letter) or "", "ll", "lh", params))
        if group_id is not None:
            where.append("EXISTS (SELECT 1 FROM contact_groups cg WHERE cg.contact_id = c.id"
                         " AND cg.group_id = :g)")
            params["g"] = group_id
        rows = await self.db.fetchall(
            f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} LIMIT :n", params)
        return _rows(rows)

    # ---- whole-account reads: keyset batches from one snapshot (Database.snapshot) --------

    @staticmethod
    async def id_at(snap: Snapshot, account_id: int, after_id: int, position: int) -> int | None:
        """The id of the position-th contact (1-based) after after_id in id order; None when
        there are fewer. Index-only (contacts_account)."""
        return await snap.value("SELECT id FROM contacts WHERE account_id = ? AND id > ?"
                                " ORDER BY id LIMIT 1 OFFSET ?", (account_id, after_id, position - 1))

    @staticmethod
    async def version_at(snap: Snapshot, account_id: int, after: int, position: int) -> int | None:
        """The version of the position-th change (update or deletion) after version `after`;
        None when there are fewer. Two index-only ranges merged, never sorted."""
        return await snap.value(
            "SELECT version FROM contacts WHERE account_id = :a AND version > :v UNION ALL"
            " SELECT version FROM deleted_contacts WHERE account_id = :a AND version > :v"
            " ORDER BY 1 LIMIT 1 OFFSET :p", {"a": account_id, "v": after, "p": position - 1})

    @staticmethod
    def contacts_by(snap: Snapshot, key: str, account_id: int, low: int, high: int | None,
                    batch: int) -> AsyncIterator[list[dict]]:
        """Contacts with low < key <= high (None: no upper end) in key order ("id": list order,
        "version": sync order), `batch` at a time."""
        return _keyset(snap, f"SELECT {_COLS_OF[snap.engine]} FROM contacts c WHERE c.account_id = ?",
                       f"c.{key}",
                       account_id, low, high, batch, _rows)

    @staticmethod
    def contacts_json_by(snap: Snapshot, key: str, account_id: int, low: int, high: int | None,
                         batch: int) -> AsyncIterator[bytes]:
        """contacts_by, each batch already the JSON array of Contact. SQLite writes each row's
        JSON itself (json_object, in C, in the query); PostgreSQL rows go through
        contacts.encode (its json_build_object spaces its output differently)."""
        if snap.engine == "sqlite":
            return _keyset(snap, f"SELECT c.id, c.version, {_CONTACT_JSON} AS doc FROM contacts c"
                           " WHERE c.account_id = ?", f"c.{key}", account_id, low, high, batch,
                           _joined)
        return _keyset(snap, f"SELECT {_COLS_OF[snap.engine]} FROM contacts c WHERE c.account_id = ?",
                       f"c.{key}", account_id, low, high, batch, rows_json)

    @staticmethod
    async def phone_keys(snap: Snapshot, contact_ids: list[int]) -> dict[int, list[str]]:
        """The matching keys (E.164 where a number is one) of these contacts' numbers."""
        if not contact_ids:
            return {}
        out: dict[int, list[str]] = {}
        for r in await snap.fetchall(
                "SELECT contact_id, number FROM contact_phones WHERE contact_id IN"
                f" ({', '.join('?' * len(contact_ids))})", contact_ids):
            out.setdefault(r["contact_id"], []).append(r["number"])
        return out

    @staticmethod
    def tombstones(snap: Snapshot, account_id: int, low: int, high: int | None,
                   batch: int) -> AsyncIterator[list[dict]]:
        return _keyset(snap, "SELECT uuid, version, deleted_at FROM deleted_contacts"
                             " WHERE account_id = ?", "version", account_id, low, high, batch,
                       lambda rows: [dict(r) for r in rows])

    async def in_group(self, group_id: int) -> list[dict]:
        return await self._select(
            "c.id IN (SELECT contact_id FROM contact_groups WHERE group_id = ?)", (group_id,),
            "ORDER BY c.lastname_key, c.firstname_key, c.id")

    async def list_groups(self, account_id: int) -> list[dict]:
        rows = await self.db.fetchall(
            "SELECT uuid, name, version FROM groups WHERE account_id = ? ORDER BY name",
            (account_id,))
        return [dict(r) for r in rows]

    async def group_id(self, account_id: int, uuid: str) -> int | None:
        row = await self.db.fetchone("SELECT id FROM groups WHERE account_id = ? AND uuid = ?",
                                     (account_id, uuid))
        return row["id"] if row else None

    # ---- writes (inside the service's transaction) ---------------------------------------

    @staticmethod
    @asynccontextmanager
    async def search_index_deferred(tx: Tx) -> AsyncIterator[None]:
        """Contacts inserted inside the block get their trigram index entries (SQLite's FTS5
        tables) in one INSERT … SELECT per table at its end, not from a trigger each (migration
        0018): a bulk import's batch. Contacts updated inside the block keep their triggers, so
        one created and then updated in the same block is already indexed and is skipped.
        PostgreSQL indexes the contacts themselves (pg_trgm): nothing to do there."""
        if tx.engine != "sqlite":
            yield
            return
        counter = await tx.fetchone("SELECT last FROM contact_id_counter")
        assert counter is not None  # one row, made by the migrations
        after = counter[0]  # every contact inserted in the block gets a higher id
        await tx.execute("INSERT INTO fts_deferred(from_id) VALUES (?)", (after,))
        try:
            yield
        finally:  # on an error too: the transaction rolls back, but nothing may leave it set
            await tx.execute("DELETE FROM fts_deferred")
        await tx.execute(
            "INSERT INTO contacts_fts(rowid, mobile, phones, name, organization, email, note)"
            " SELECT id, mobile_phone, phone_numbers,"
            " trim(coalesce(firstname_key, '') || ' ' || coalesce(lastname_key, '')),"
            " organization_key, email_key, note FROM contacts c WHERE c.id > ?"
            " AND NOT EXISTS (SELECT 1 FROM contacts_fts f WHERE f.rowid = c.id)", (after,))
        await tx.execute(
            "INSERT INTO contacts_mobile_fts(rowid, mobile) SELECT id, mobile_phone"
            " FROM contacts c WHERE c.id > ? AND c.mobile_phone IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM contacts_mobile_fts f WHERE f.rowid = c.id)",
            (after,))

    @staticmethod
    async def next_versions(tx: Tx, account_id: int, count: int = 1) -> int:
        """Reserves ``count`` versions of the account's counter; returns the first of them."""
        row = await tx.fetchone(
            "UPDATE accounts SET version = version + ? WHERE id = ? RETURNING version",
            (count, account_id))
        assert row is not None  # the account exists: its write turn is held
        return row["version"] - count + 1

    @staticmethod
    async def row_for_update(tx: Tx, account_id: int, where: str, value: str | int) -> dict | None:
        row = await tx.fetchone(
            f"SELECT {_COLS_OF[tx.engine]} FROM contacts c WHERE c.account_id = ? AND c.{where} = ?",
            (account_id, value))
        return _row(row) if row else None

    @staticmethod
    async def crm_owner(tx: Tx, account_id: int, crm_source: str | None,
                        crm_id: str) -> str | None:
        row = await tx.fetchone("SELECT uuid FROM contacts WHERE account_id = ? AND crm_source = ?"
                                " AND crm_id = ?", (account_id, crm_source, crm_id))
        return row["uuid"] if row else None

    # ---- one-time repairs (contacts.repair) ----------------------------------------------------

    async def foreign_number_contacts(self, account_id: int, home_prefix: str) -> list[str]:
        """Uuids of the account's contacts with a number from outside its home country (a key
        in E.164 not starting with home_prefix, e.g. '+1')."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT c.uuid FROM contact_phones p JOIN contacts c ON c.id = p.contact_id"
            " WHERE p.account_id = ? AND p.number LIKE '+%' AND p.number NOT LIKE ?",
            (account_id, home_prefix + "%"))
        return [r[0] for r in rows]

    async def numbers_of(self, account_id: int, uuid: str) -> tuple[dict, list[tuple[str, bool]]] | None:
        """(the stored row, its (key, is mobile) numbers) of one contact; None when gone."""
        row = await self._first("c.account_id = ? AND c.uuid = ?", (account_id, uuid))
        if row is None:
            return None
        keys = await self.db.fetchall("SELECT number, is_mobile FROM contact_phones"
                                      " WHERE contact_id = ?", (row["id"],))
        return row, [(k[0], bool(k[1])) for k in keys]

    async def repair_done(self, name: str) -> bool:
        return bool(await self.db.fetchall("SELECT 1 FROM data_repairs WHERE name = ?", (name,)))

    async def mark_repaired(self, name: str, changed: int, now: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO data_repairs(name, done_at, changed) VALUES (?, ?, ?)"
                             " ON CONFLICT (name) DO NOTHING", (name, now, changed))

    async def by_id(self, account_id: int, contact_id: int) -> dict | None:
        return await self._first("c.account_id = ? AND c.id = ?", (account_id, contact_id))

    async def holding(self, account_id: int, key: str) -> dict | None:
        """The oldest contact (lowest id) holding this number key, mobile or other."""
        return await self._first("c.id = (SELECT min(p.contact_id) FROM contact_phones p"
                                 " WHERE p.account_id = ? AND p.number = ?)", (account_id, key))

    async def from_id(self, account_id: int, first_id: int, limit: int,
                      key: str | None = None) -> list[dict]:
        """Contacts with id >= first_id in id order (only those holding the number key, if
        given), at most limit."""
        if key is None:
            return await self._select("c.account_id = ? AND c.id >= ?", (account_id, first_id, limit),
                                      "ORDER BY c.id LIMIT ?")
        return await self._select(
            "c.id IN (SELECT p.contact_id FROM contact_phones p WHERE p.account_id = ?"
            " AND p.number = ? AND p.contact_id >= ?)", (account_id, key, first_id, limit),
            "ORDER BY c.id LIMIT ?")

    async def by_crm(self, account_id: int, crm_source: str, crm_id: str) -> dict | None:
        return await self._first("c.account_id = ? AND c.crm_source = ? AND c.crm_id = ?",
                                 (account_id, crm_source, crm_id))

    @staticmethod
    async def external_ids_held(tx: Tx, account_id: int, external_ids: list[str]) -> set[str]:
        """Those of external_ids that a contact of the account holds."""
        held: set[str] = set()
        for chunk in in_chunks(external_ids):
            held.update(r[0] for r in await tx.fetchall(
                f"SELECT external_id FROM contacts WHERE account_id = ? AND external_id IN"
                f" ({', '.join('?' * len(chunk))})", (account_id, *chunk)))
        return held

    @staticmethod
    async def insert_many(tx: Tx, account_id: int, contacts: list[tuple[str, dict[str, Any]]],
                          first_version: int, now: str) -> list[int]:
        """New contacts (uuid, values) with consecutive versions from first_version; their ids,
        reserved together from the counter: never reused (Relatel shows them), the next ones
        after the highest ever given."""
        counter = await tx.fetchone("UPDATE contact_id_counter SET last = last + ? RETURNING last",
                                    (len(contacts),))
        assert counter is not None  # one row, made by the migrations
        ids = list(range(counter[0] - len(contacts) + 1, counter[0] + 1))
        by_columns: dict[tuple[str, ...], list[tuple]] = {}
        versions = range(first_version, first_version + len(contacts))
        for cid, version, (uuid, values) in zip(ids, versions, contacts, strict=True):
            names, data = _columns(values)
            by_columns.setdefault(tuple(names), []).append(
                (cid, account_id, uuid, *data, version, now, now))
        for cols, rows in by_columns.items():
            await tx.executemany(
                f"INSERT INTO contacts(id, account_id, uuid, {', '.join(cols)}, version,"
                f" created_at, updated_at) VALUES (?, ?, ?, {', '.join('?' * len(cols))}, ?, ?, ?)",
                rows)
        return ids

    @staticmethod
    async def add_phones(tx: Tx, account_id: int,
                         contacts: list[tuple[int, str | None, list[str]]]) -> None:
        """The matching keys (callbridge.phone.phone_key: mobile, others) of contacts that have
        none stored."""
        rows = []
        for cid, mobile, others in contacts:
            rows += [(cid, account_id, n, 0) for n in others]
            if mobile:
                rows.append((cid, account_id, mobile, 1))
        if rows:
            await tx.executemany("INSERT INTO contact_phones(contact_id, account_id, number,"
                                 " is_mobile) VALUES (?, ?, ?, ?)", rows)

    @staticmethod
    async def external_id_owner(tx: Tx, account_id: int, external_id: str) -> str | None:
        row = await tx.fetchone("SELECT uuid FROM contacts WHERE account_id = ? AND external_id = ?",
                                (account_id, external_id))
        return row["uuid"] if row else None

    @staticmethod
    async def group_ids(tx: Tx, account_id: int, uuids: list[str]) -> dict[str, int]:
        if not uuids:
            return {}
        marks = ",".join("?" * len(uuids))
        rows = await tx.fetchall(
            f"SELECT uuid, id FROM groups WHERE account_id = ? AND uuid IN ({marks})",
            (account_id, *uuids))
        return {r["uuid"]: r["id"] for r in rows}

    @staticmethod
    async def insert(tx: Tx, account_id: int, uuid: str, values: dict[str, Any], version: int,
                     now: str) -> int:
        [new_id] = await ContactStore.insert_many(tx, account_id, [(uuid, values)], version, now)
        return new_id

    @staticmethod
    async def update(tx: Tx, contact_id: int, values: dict[str, Any], version: int, now: str) -> None:
        cols, data = _columns(values)
        sets = "".join(f"{c} = ?, " for c in cols)
        await tx.execute(f"UPDATE contacts SET {sets}version = ?, updated_at = ? WHERE id = ?",
                         (*data, version, now, contact_id))

    @staticmethod
    async def set_version(tx: Tx, contact_ids: list[int], first_version: int, now: str) -> None:
        await tx.executemany("UPDATE contacts SET version = ?, updated_at = ? WHERE id = ?",
                             [(first_version + i, now, cid) for i, cid in enumerate(contact_ids)])

    @staticmethod
    async def replace_phones(tx: Tx, account_id: int, contact_id: int, mobile: str | None,
                             others: list[str]) -> None:
        """The contact's matching keys (callbridge.phone.phone_key)."""
        await tx.execute("DELETE FROM contact_phones WHERE contact_id = ?", (contact_id,))
        await ContactStore.add_phones(tx, account_id, [(contact_id, mobile, others)])

    @staticmethod
    async def replace_memberships(tx: Tx, contact_id: int, group_ids: list[int]) -> None:
        await tx.execute("DELETE FROM contact_groups WHERE contact_id = ?", (contact_id,))
        if group_ids:
            await tx.executemany("INSERT INTO contact_groups(contact_id, group_id) VALUES (?, ?)",
                                 [(contact_id, g) for g in group_ids])

    @staticmethod
    async def delete(tx: Tx, account_id: int, contact_id: int, uuid: str, version: int,
                     now: str) -> None:
        await tx.execute("INSERT INTO deleted_contacts(account_id, uuid, version, deleted_at)"
                         " VALUES (?, ?, ?, ?)", (account_id, uuid, version, now))
        await tx.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))

    @staticmethod
    async def insert_group(tx: Tx, account_id: int, uuid: str, name: str, version: int,
                           now: str) -> None:
        await tx.execute("INSERT INTO groups(account_id, uuid, name, version, created_at)"
                         " VALUES (?, ?, ?, ?, ?)", (account_id, uuid, name, version, now))

    @staticmethod
    async def group_name_taken(tx: Tx, account_id: int, name: str) -> bool:
        return await tx.fetchone("SELECT 1 FROM groups WHERE account_id = ? AND name = ?",
                                 (account_id, name)) is not None

    @staticmethod
    async def group_members(tx: Tx, group_id: int) -> list[int]:
        rows = await tx.fetchall("SELECT contact_id FROM contact_groups WHERE group_id = ?"
                                 " ORDER BY contact_id", (group_id,))
        return [r[0] for r in rows]

    @staticmethod
    async def delete_group(tx: Tx, group_id: int) -> int:
        return await tx.execute("DELETE FROM groups WHERE id = ?", (group_id,))

    @staticmethod
    async def tx_group_id(tx: Tx, account_id: int, uuid: str) -> int | None:
        row = await tx.fetchone("SELECT id FROM groups WHERE account_id = ? AND uuid = ?",
                                (account_id, uuid))
        return row["id"] if row else None

    @staticmethod
    async def tx_contact_id(tx: Tx, account_id: int, uuid: str) -> int | None:
        row = await tx.fetchone("SELECT id FROM contacts WHERE account_id = ? AND uuid = ?",
                                (account_id, uuid))
        return row["id"] if row else None

    @staticmethod
    async def membership_id(tx: Tx, contact_id: int, group_id: int) -> int | None:
        row = await tx.fetchone("SELECT id FROM contact_groups WHERE contact_id = ? AND group_id = ?",
                                (contact_id, group_id))
        return row["id"] if row else None

    @staticmethod
    async def add_membership(tx: Tx, contact_id: int, group_id: int) -> int:
        return await tx.insert("INSERT INTO contact_groups(contact_id, group_id) VALUES (?, ?)",
                               (contact_id, group_id))

    @staticmethod
    async def remove_membership(tx: Tx, contact_id: int, group_id: int) -> int:
        return await tx.execute("DELETE FROM contact_groups WHERE contact_id = ? AND group_id = ?",
                                (contact_id, group_id))

