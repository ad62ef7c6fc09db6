"""HTTP for the Call Log API 3.0."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from callbridge.accounts.http import account_of
from callbridge.calllog.models import CallRecord, RecordsPage, RecordsQuery
from callbridge.calllog.service import CallLogService
from callbridge.errors import InvalidInput
from callbridge.web.routing import RouteTable, json_ok, parse_model

SERVICE = web.AppKey("calllog_service", CallLogService)
routes = RouteTable("call_log")
_CSV_FIELDS = list(CallRecord.model_fields)


@routes.route("GET", "/call_log/records_after_timestamp", summary="Call records after a time",
              response=RecordsPage, query=RecordsQuery)
async def records_after_timestamp(request):
    """Call-log rows (one per call and inside party) that started after a UTC time, oldest
    first, named from the contacts. Page with limit and after=<next>; filter by direction,
    extension, number; Accept: text/csv for CSV.
    """
    if not request.query.get("timestamp"):
        raise InvalidInput("add ?timestamp=YYYY-MM-DD HH:MM:SS", field="timestamp",
                           error="Missing timestamp in query")
    q = parse_model(RecordsQuery, dict(request.query))
    rows = await request.app[SERVICE].records(account_of(request), q.timestamp, q.after, q.limit,
                                              q.direction, q.extension, q.number)
    records = [CallRecord.model_validate(r) for r in rows]
    page = RecordsPage(count=len(records), records=records,
                       next=records[-1].rid if len(records) == q.limit else None)
    if "text/csv" in request.headers.get("Accept", ""):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        for r in records:
            writer.writerow(r.model_dump())
        headers = {"X-Next-Cursor": str(page.next)} if page.next is not None else None
        return web.Response(text=out.getvalue(), content_type="text/csv", headers=headers)
    return json_ok(page)
