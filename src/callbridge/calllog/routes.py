"""HTTP for the Call Log API 3.0."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from callbridge.accounts.http import account_of
from callbridge.calllog.models import CallRecord, CallStory, RecordsPage, RecordsQuery, StoryQuery
from callbridge.calllog.service import CallLogService
from callbridge.errors import InvalidInput
from callbridge.scopes import Scope
from callbridge.web.routing import RouteTable, json_ok, parse_model

SERVICE = web.AppKey("calllog_service", CallLogService)
routes = RouteTable("call_log")
_CSV_FIELDS = list(CallRecord.model_fields)


@routes.route("GET", "/call_log/records_after_timestamp", scope=Scope.CALLLOG_READ,
              summary="Call records after a time",
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


@routes.route("GET", "/calls/{linked_id}", scope=Scope.CALLLOG_READ,
              summary="A call's story: every leg, in order",
              response=CallStory, query=StoryQuery, errors=(404,))
async def call_story(request):
    """Every leg of one call in the order it began (who dialled whom, which devices rang, who
    talked, what a queue or voicemail answered, what a pickup replaced), read from the call's
    stored CDRs as the call log reads them, with the account's call-log rows of it. linked_id:
    a row's `linkedid`, an event's `call_id`; node: theirs too (default: the first node).
    """
    q = parse_model(StoryQuery, dict(request.query))
    story = await request.app[SERVICE].story(account_of(request), request.match_info["linked_id"],
                                             q.node)
    return json_ok(CallStory.model_validate(story))
