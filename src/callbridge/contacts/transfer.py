"""Contacts in and out as files: CSV (the WebFones field names as the header) and vCard
(3.0 and 4.0 read, 3.0 written, through the maintained `vobject` library).

Import reads a file a record at a time and writes a batch of records per transaction
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

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

import vobject
from pydantic import ValidationError

from callbridge.accounts.models import Account
from callbridge.audit.service import AuditTrail
from callbridge.contacts import models as m
from callbridge.contacts.service import ContactService
from callbridge.errors import InvalidInput

CSV_FIELDS = ("external_id", "firstname", "lastname", "organization", "organization_flag",
              "mobile_phone", "phone_numbers", "email", "address", "city", "state", "zip",
              "country", "note", "profile_url")
EXPORT_FIELDS = ("uuid", *CSV_FIELDS)
# Contacts per transaction over HTTP: ~20 ms on the loop each (loop_transaction), so a request
# served meanwhile waits about that long (/health p99 24 ms during a 100k import; 250 gave 27 ms,
# max 42 ms); one fsync per batch (100 made the import 20 % slower: docs/benchmarks.md).
BATCH = 200
# The command line's import (`callbridge contacts import`) serves no request: its batches are
# bounded by how long a running service's writes wait for the database instead (~100 ms a
# batch; they wait up to busy_timeout). A tenth of the commits: 100k rows 12.0 -> 9.8-10.2 s.
CLI_BATCH = 1000
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
        types |= {t.lower() for t in getattr(tel, "singletonparams", [])}  # 2.1: TEL;CELL
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
                         on_batch: Callable[[], None] | None = None, *,
                         audit: AuditTrail, actor: str, fmt: str,
                         batch_size: int = BATCH) -> ImportReport:
    """Imports the records in batches of batch_size; the import, with its counts, goes into the
    audit trail (also one cut short: what its committed batches did)."""
    report = ImportReport()
    try:
        await _import(contacts, account, records, report, on_reject, on_batch, batch_size)
    finally:
        await audit.record(actor, "contacts.imported", account, format=fmt,
                           created=report.created, updated=report.updated,
                           unchanged=report.unchanged, rejected=report.rejected)
    return report


async def _import(contacts: ContactService, account: Account, records: Iterable[Record],
                  report: ImportReport, on_reject: Callable[[int, str], None] | None,
                  on_batch: Callable[[], None] | None, batch_size: int) -> None:
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
        if len(batch) >= batch_size:
            await flush()
    if batch:
        await flush()


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


def _escaped(value: str) -> str:
    """A vCard 3.0 text value (RFC 2426 §5): backslash, comma, semicolon and newlines escaped."""
    return (value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _folded(line: str) -> str:
    """A content line folded at 75 octets (continuations start with a space), never inside a
    character's UTF-8 bytes."""
    if len(line) <= 75 and line.isascii():
        return line + "\r\n"
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for ch in line:
        width = len(ch.encode())
        if size + width > 75:
            parts.append("".join(current))
            current, size = [" "], 1
        current.append(ch)
        size += width
    parts.append("".join(current))
    return "\r\n".join(parts) + "\r\n"


def _vcard(c: m.Contact, keys: dict[str, str]) -> str:
    """vCard 3.0, written directly (vobject's serializer made the export 19x slower than CSV
    and held the event loop long enough to slow /health; its reader still reads imports)."""
    # E.164 with its '+' where a number is one (keys: {shown: key}); '+45 71 99 99 99' was
    # written 4571999999, which a US phone reads as (457) 199-9999
    numbers = [keys.get(n, n) for n in ([c.mobile_phone] if c.mobile_phone else [])
               + list(c.phone_numbers)]
    full = (" ".join(p for p in (c.firstname, c.lastname) if p) or c.organization
            or (numbers[0] if numbers else None) or c.email or c.uuid)
    lines = ["BEGIN:VCARD", "VERSION:3.0",
             f"UID:{_escaped(c.external_id or c.uuid)}",
             f"N:{_escaped(c.lastname or '')};{_escaped(c.firstname or '')};;;",
             f"FN:{_escaped(full)}"]
    if c.organization:
        lines.append(f"ORG:{_escaped(c.organization)}")
    for i, number in enumerate(numbers):
        kind = "CELL" if i == 0 and c.mobile_phone else "VOICE"
        lines.append(f"TEL;TYPE={kind}:{_escaped(number)}")
    if c.email:
        lines.append(f"EMAIL;TYPE=INTERNET:{_escaped(c.email)}")
    if any((c.address, c.city, c.state, c.zip, c.country)):
        lines.append("ADR:;;" + ";".join(_escaped(v or "") for v in (
            c.address, c.city, c.state, c.zip, c.country)))
    if c.note:
        lines.append(f"NOTE:{_escaped(c.note)}")
    if c.profile_url:
        lines.append(f"URL:{_escaped(c.profile_url)}")  # as vobject wrote (and reads) it
    lines.append("END:VCARD")
    return "".join(_folded(line) for line in lines)


async def export_parts(batches: AsyncIterator[list[tuple[m.Contact, dict[str, str]]]],
                       fmt: str) -> AsyncIterator[bytes]:
    """The export in parts, a batch at a time (ContactService.export_batches: each contact with
    its numbers' keys, which vCard writes)."""
    if fmt == "csv":
        yield (",".join(EXPORT_FIELDS) + "\r\n").encode()
    async for batch in batches:
        # formatting a batch is pure CPU: a worker thread, so the loop keeps serving meanwhile
        yield await asyncio.to_thread(_export_part, batch, fmt)


def _export_part(batch: list[tuple[m.Contact, dict[str, str]]], fmt: str) -> bytes:
    if fmt == "csv":
        return _csv_rows([c for c, _ in batch]).encode()
    return "".join(_vcard(c, keys) for c, keys in batch).encode()
