"""HTTP for contacts files: POST /contacts/import (CSV or vCard, streamed in) and
GET /contacts/export?format=csv|vcf (streamed out). The rules are callbridge.contacts.transfer's."""

from __future__ import annotations

import codecs
import io
import tempfile
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callbridge.accounts.http import account_of
from callbridge.audit.routes import SERVICE as AUDIT
from callbridge.contacts import transfer
from callbridge.contacts.routes import SERVICE
from callbridge.errors import DomainError, InvalidInput
from callbridge.scopes import Scope
from callbridge.web.middleware import actor_of
from callbridge.web.routing import RouteTable, json_ok, parse_model, stream_body

routes = RouteTable("contacts")
IMPORT_MAX_BYTES = 512 * 1024 * 1024  # ~2.5 M contacts of CSV; spooled to a temporary file
_TYPES = {"csv": "text/csv", "vcf": "text/vcard"}


class FormatQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "vcf"] = Field("csv", description="csv (WebFones field names) or vcf")


class Rejected(BaseModel):
    line: int
    reason: str


class ImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int = Field(0, description="records whose contact held the same values already:"
                                          " not written, its version kept")
    rejected: int
    rejects: list[Rejected] = Field(description=f"the first {transfer.ImportReport.MAX_LISTED}"
                                                " rejected records")


class TooLarge(DomainError):
    status = 413
    error = "Payload too large"


async def _spool(request: web.Request) -> io.TextIOWrapper:
    """The upload into a temporary file (memory up to 8 MiB, disk after), checked to be UTF-8
    as it arrives: a file that isn't is refused before anything is imported."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > IMPORT_MAX_BYTES:
                raise TooLarge(f"an import is at most {IMPORT_MAX_BYTES // 2**20} MiB")
            decoder.decode(chunk)
            spool.write(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        spool.close()
        raise InvalidInput(f"the file is not UTF-8 (byte {size - len(chunk) + exc.start})",
                           field="body", error="Invalid file") from None
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")


@routes.route("POST", "/contacts/import", scope=Scope.CONTACTS_WRITE,
              summary="Import contacts from a CSV or vCard file"
              " (body: the file; idempotent by external_id / UID)", query=FormatQuery,
              response=ImportResult, errors=(413,))
async def import_contacts(request):
    """The body is the file (CSV with the WebFones field names as header, or vCard 3.0/4.0 with
    format=vcf), up to 512 MiB of UTF-8. Records whose external_id (a vCard's UID) exists
    update that contact; others are created. A rejected record is reported with its line and
    reason and never stops the rest. See docs/contacts.md.
    """
    q = parse_model(FormatQuery, dict(request.query))
    text = await _spool(request)
    with text:
        report = await transfer.import_records(
            request.app[SERVICE], account_of(request), transfer.records_of(q.format, text),
            audit=request.app[AUDIT], actor=actor_of(request), fmt=q.format)
    return json_ok(ImportResult(created=report.created, updated=report.updated,
                                unchanged=report.unchanged,
                                rejected=report.rejected,
                                rejects=[Rejected(line=ln, reason=r) for ln, r in report.rejects]))


@routes.route("GET", "/contacts/export", scope=Scope.CONTACTS_READ,
              summary="Every contact as CSV or vCard 3.0 (streamed)",
              query=FormatQuery)
async def export_contacts(request):
    """Every contact of the account as CSV (the import's columns plus uuid) or vCard 3.0,
    streamed from one consistent snapshot.
    """
    q = parse_model(FormatQuery, dict(request.query))
    async with request.app[SERVICE].export_batches(account_of(request)) as batches:
        return await stream_body(request, transfer.export_parts(batches, q.format),
                                 _TYPES[q.format], filename=f"contacts.{q.format}")
