"""Contacts in and out as files: CSV (the WebFones field names as the header) and vCard
(3.0 and 4.0 read, 3.0 written, through the maintained `vobject` library).

Import reads a file a record at a time and writes BATCH records per transaction
(ContactService.import_batch), so a million rows cost bounded memory and a rejected record
never aborts the rest: it is reported with its line and reason. Records with an external_id
(a vCard's UID) update the contact already holding it, so importing the same file twice changes
nothing the second time. Export streams the account's contacts from one snapshot.

CSV columns (any order; all optional but a name, organization or number is needed):
    external_id, firstname, lastname, organization, organization_flag, mobile_phone,
    phone_numbers (several separated by ";"), email, address, city, state, zip, country, note,
    profile_url; `uuid` (written by export) is accepted and ignored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

import vobject
from pydantic import ValidationError

from callbridge.accounts.models import Account
from callbridge.contacts import models as m
from callbridge.contacts.service import ContactService
from callbridge.errors import InvalidInput

CSV_FIELDS = ("external_id", "firstname", "lastname", "organization", "organization_flag",
              "mobile_phone", "phone_numbers", "email", "address", "city", "state", "zip",
              "country", "note", "profile_url")
EXPORT_FIELDS = ("uuid", *CSV_FIELDS)
# Contacts per transaction: ~10 ms on the loop each (loop_transaction), so a request served
# meanwhile waits at most that long; one fsync per batch.
BATCH = 100
FORMATS = ("csv", "vcf")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # held the same values already: not written, versions kept
    rejected: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_LISTED
    MAX_LISTED = 100

    def add(self, line: int, outcome: str, reason: str | None) -> None:
        if outcome == "created":
            self.created += 1
        elif outcome == "updated":
            self.updated += 1
        elif outcome == "unchanged":
            self.unchanged += 1
        else:
            self.rejected += 1
            if len(self.rejects) < self.MAX_LISTED:
                self.rejects.append((line, reason or "rejected"))


# A parsed record: (line it starts on, the fields) or (line, None, why it can't be read).
Record = tuple[int, dict | None, str | None]


def csv_records(text: TextIO) -> Iterator[Record]:
    reader = csv.DictReader(text)
    header = reader.fieldnames or []
    unknown = [h for h in header if h not in EXPORT_FIELDS]
    if unknown or not header:
        raise InvalidInput(f"unknown CSV column(s) {', '.join(unknown) or '(no header)'};"
                           f" the columns are {', '.join(CSV_FIELDS)}", field="header",
                           error="Invalid CSV header")
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, None, f"unreadable CSV: {exc}"
            continue
        if None in row:  # more cells than the header has
            yield line, None, "more cells than the header has columns"
            continue
        fields = {k: v for k, v in row.items() if k != "uuid" and v not in (None, "")}
        if "phone_numbers" in fields:
            fields["phone_numbers"] = [n.strip() for n in fields["phone_numbers"].split(";")
                                       if n.strip()]
        yield line, fields, None


def vcard_records(text: TextIO) -> Iterator[Record]:
    """One vCard at a time (BEGIN:VCARD … END:VCARD), parsed by vobject."""
    lines: list[str] = []
    start = 0
    for number, raw in enumerate(text, 1):
        if not lines:
            if not raw.strip():
                continue
            start = number
        lines.append(raw)
        if raw.strip().upper() == "END:VCARD":
            try:
                card = vobject.readOne("".join(lines))
                yield start, _from_vcard(card), None
            except Exception as exc:  # vobject raises many kinds for a malformed card
                yield start, None, f"unreadable vCard: {type(exc).__name__}: {exc}"[:300]
            lines = []
    if lines:
        yield start, None, "vCard without END:VCARD"


def _value(card, name: str) -> str | None:
    prop = getattr(card, name, None)
    value = getattr(prop, "value", None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _from_vcard(card) -> dict:
    fields: dict = {}
    n = getattr(card, "n", None)
    if n is not None:
        fields["firstname"] = (n.value.given or "").strip() or None
        fields["lastname"] = (n.value.family or "").strip() or None
    else:  # no N (allowed in 4.0): the formatted name stands for the first name
        fields["firstname"] = _value(card, "fn")
    org = getattr(card, "org", None)
    if org is not None:
        fields["organization"] = " ".join(v for v in org.value if v).strip() or None
    phones: list[str] = []
    for tel in card.contents.get("tel", []):
        types = {t.lower() for t in tel.params.get("TYPE", [])}
        types |= {t.lower() for v in tel.params.get("TYPE", []) for t in v.split(",")}
        if ("cell" in types or "mobile" in types) and "mobile_phone" not in fields:
            fields["mobile_phone"] = tel.value.removeprefix("tel:")
        else:
            phones.append(tel.value.removeprefix("tel:"))
    if phones:
        fields["phone_numbers"] = phones
    fields["email"] = _value(card, "email")
    adr = getattr(card, "adr", None)
    if adr is not None:
        a = adr.value
        street = a.street if isinstance(a.street, str) else " ".join(a.street)
        fields.update(address=street or None, city=a.city or None, state=a.region or None,
                      zip=a.code or None, country=a.country or None)
    fields["note"] = _value(card, "note")
    fields["profile_url"] = _value(card, "url")
    fields["external_id"] = _value(card, "uid")
    return {k: v for k, v in fields.items() if v not in (None, "", [])}


def _checked(fields: dict) -> m.ContactWrite | str:
    """The same model and rules as POST /contacts/contacts, with file values read as text;
    or why not (each field named)."""
    try:
        return m.ContactWrite.model_validate(fields, strict=False)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                         for e in exc.errors(include_url=False)[:5])


async def import_records(contacts: ContactService, account: Account, records: Iterable[Record],
                         on_reject: Callable[[int, str], None] | None = None,
                         on_batch: Callable[[], None] | None = None) -> ImportReport:
    report = ImportReport()
    batch: list[tuple[int, m.ContactWrite]] = []

    def reject(line: int, reason: str) -> None:
        report.add(line, "rejected", reason)
        if on_reject is not None:
            on_reject(line, reason)

    async def flush() -> None:
        for line, outcome, reason in await contacts.import_batch(account, batch):
            if outcome == "rejected":
                reject(line, reason or "rejected")
            else:
                report.add(line, outcome, None)
        batch.clear()
        if on_batch is not None:
            on_batch()

    for line, fields, problem in records:
        if fields is None:
            reject(line, problem or "unreadable")
            continue
        body = _checked(fields)
        if isinstance(body, str):
            reject(line, body)
            continue
        batch.append((line, body))
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return report


def records_of(fmt: str, text: TextIO) -> Iterator[Record]:
    if fmt == "csv":
        return csv_records(text)
    if fmt == "vcf":
        return vcard_records(text)
    raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")


# ---- export ------------------------------------------------------------------------------------

def _csv_rows(contacts: list[m.Contact]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for c in contacts:
        row = []
        for name in EXPORT_FIELDS:
            v = getattr(c, name)
            row.append(";".join(v) if isinstance(v, list) else
                       ("true" if v is True else "false" if v is False else "" if v is None
                        else str(v)))
        writer.writerow(row)
    return out.getvalue()


def _vcard(c: m.Contact) -> str:
    card = vobject.vCard()
    card.add("n").value = vobject.vcard.Name(family=c.lastname or "", given=c.firstname or "")
    full = " ".join(p for p in (c.firstname, c.lastname) if p) or c.organization or c.mobile_phone
    card.add("fn").value = full or c.uuid
    card.add("uid").value = c.external_id or c.uuid
    if c.organization:
        card.add("org").value = [c.organization]
    if c.mobile_phone:
        tel = card.add("tel")
        tel.value = c.mobile_phone
        tel.type_param = "CELL"
    for number in c.phone_numbers:
        tel = card.add("tel")
        tel.value = number
        tel.type_param = "VOICE"
    if c.email:
        card.add("email").value = c.email
    if any((c.address, c.city, c.state, c.zip, c.country)):
        card.add("adr").value = vobject.vcard.Address(
            street=c.address or "", city=c.city or "", region=c.state or "", code=c.zip or "",
            country=c.country or "")
    if c.note:
        card.add("note").value = c.note
    if c.profile_url:
        card.add("url").value = c.profile_url
    return card.serialize()


async def export_parts(batches: AsyncIterator[list[m.Contact]], fmt: str) -> AsyncIterator[bytes]:
    if fmt == "csv":
        yield (",".join(EXPORT_FIELDS) + "\r\n").encode()
    async for batch in batches:
        if fmt == "csv":
            yield _csv_rows(batch).encode()
        else:
            yield "".join(_vcard(c) for c in batch).encode()
