"""HTTP for live events: GET /events (WebSocket, or Server-Sent Events for Accept:
text/event-stream) and POST /events/ticket. Frames carry the stored event JSON unchanged.

Authentication: the key header, or ?ticket= from POST /events/ticket (browsers can't set
headers on either transport; the web middleware redeems it). Resume: ?after= or Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import WSCloseCode, web

from callbridge.accounts.http import account_of
from callbridge.aio import cancel_and_wait
from callbridge.errors import InvalidInput
from callbridge.events.hub import StoredEvent
from callbridge.events.models import Event, StreamQuery, Ticket
from callbridge.events.service import EventsService, Heartbeat, Problem
from callbridge.events.tickets import TTL_SECONDS
from callbridge.logs import event
from callbridge.scopes import Scope
from callbridge.web.middleware import ACCOUNT as ACCOUNTS
from callbridge.web.middleware import REQUEST_KEY_ID, TICKETS
from callbridge.web.routing import PRE_HEADERS, RouteTable, json_ok, parse_model

log = logging.getLogger("callbridge.events")
SERVICE = web.AppKey("events_service", EventsService)
routes = RouteTable("events")
# WebSocket close code of a client that fell behind (4000-4999: for applications, RFC 6455)
CLOSE_TOO_SLOW = 4008
# Bytes a client's socket may hold unsent before its events go through its buffer instead
DIRECT_WRITE_LIMIT = 64 * 1024


def _problem_json(p: Problem) -> str:
    data: dict[str, str | int] = {"error": p.error, "message": p.message}
    if p.after is not None:
        data["after"] = p.after
    return json.dumps({"type": "error", "data": data}, separators=(",", ":"))


@routes.route("POST", "/events/ticket", scope=Scope.EVENTS_READ,
              summary="A one-time ticket to open GET /events from a"
              " browser", response=Ticket)
async def ticket(request):
    """A one-time ticket (30 s) that opens GET /events?ticket=… once: for browsers, which can't
    set the key header on a WebSocket or EventSource.
    """
    book = request.app[TICKETS]
    issued = await book.issue(account_of(request), request[REQUEST_KEY_ID])
    return json_ok(Ticket(ticket=issued, expires_in=TTL_SECONDS))


@routes.route("GET", "/events", scope=Scope.EVENTS_READ,
              summary="Live call events (WebSocket, or SSE with Accept:"
              " text/event-stream); resume with after= or Last-Event-ID", response=Event,
              query=StreamQuery, errors=(406,), ticket=True)
async def events(request):
    """The account's call events, live: call.ringing (with the contact), call.answered,
    call.ended, call.missed, dial.progress, device.state. Open as a WebSocket or as Server-
    Sent Events (Accept: text/event-stream); resume with after= or Last-Event-ID from the
    durable journal. See docs/screen-pop.md.
    """
    values = dict(request.query)
    if "after" not in values and request.headers.get("Last-Event-ID"):
        values["after"] = request.headers["Last-Event-ID"].strip()
    q = parse_model(StreamQuery, values)
    service = request.app[SERVICE]
    account = account_of(request)
    await service.check_resume(account, q.after)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _websocket(request, service, account, q)
    if "text/event-stream" in request.headers.get("Accept", ""):
        return await _sse(request, service, account, q)
    raise InvalidInput("open GET /events as a WebSocket, or with Accept: text/event-stream",
                       field="Accept", error="Not an event stream request")


async def _websocket(request, service: EventsService, account, q: StreamQuery):
    # aiohttp pings every `heartbeat` s and closes a peer that stops answering. No
    # permessage-deflate: every client gets the same prebuilt frame (StoredEvent.ws_frame).
    ws = web.WebSocketResponse(heartbeat=service.heartbeat, compress=False)
    ws.headers.update(request.get(PRE_HEADERS) or {})
    await ws.prepare(request)
    event(log, "events.client_connected", transport="websocket", account=account.name)
    transport = request.transport

    def write_now(ev: StoredEvent) -> bool:
        """The frame straight onto the socket, unless it is closing or backed up (then the
        event is buffered and send() awaits the socket's drain as usual)."""
        if ws.closed or transport is None or transport.is_closing() \
                or transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT:
            return False
        transport.write(ev.ws_frame())
        return True

    async def send() -> None:
        follower = service.follow(account, q, sink=write_now)
        try:
            async for item in follower:
                if isinstance(item, StoredEvent):
                    await ws.send_str(item.body)
                elif isinstance(item, Problem):
                    await ws.send_str(_problem_json(item))
                    if item.final:
                        await ws.close(code=CLOSE_TOO_SLOW, message=item.error.encode())
                        return
                # Heartbeat: aiohttp's own ping frames keep the socket alive
        except ConnectionResetError:
            pass
        finally:
            await follower.aclose()

    sender = asyncio.get_running_loop().create_task(send())
    watch = asyncio.get_running_loop().create_task(_revoked(request, service, ws.close))
    try:
        await _drain(ws)  # until the client closes (or send() or the key check closed it)
    finally:
        await cancel_and_wait(watch)
        await cancel_and_wait(sender)
        if not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY)
        event(log, "events.client_gone", transport="websocket", account=account.name)
    return ws


# A stream outlives the request that authenticated it: its key is checked again every
# EventsService.key_check seconds, so revoking a key (or deleting its account) also ends the
# streams it opened.
CLOSE_KEY_REVOKED = 4001


async def _revoked(request, service: EventsService, close) -> None:
    """Waits until the stream's key is revoked, then closes the stream."""
    key_id = request[REQUEST_KEY_ID]
    accounts = request.app[ACCOUNTS]
    while await accounts.key_active(key_id):
        await asyncio.sleep(service.key_check)
    event(log, "events.key_revoked", logging.WARNING, key_id=key_id)
    await close(code=CLOSE_KEY_REVOKED, message=b"key revoked")


async def _drain(ws: web.WebSocketResponse) -> None:
    async for _ in ws:  # the client says nothing we need; a close ends the loop
        pass


async def _sse(request, service: EventsService, account, q: StreamQuery):
    response = web.StreamResponse(headers=request.get(PRE_HEADERS) or {})
    response.content_type = "text/event-stream"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: don't hold events back
    await response.prepare(request)
    event(log, "events.client_connected", transport="sse", account=account.name)
    follower = service.follow(account, q)
    writer = asyncio.current_task()

    async def end_stream(**_):
        writer.cancel()

    watch = asyncio.get_running_loop().create_task(_revoked(request, service, end_stream))
    try:
        await response.write(b"retry: 2000\n\n")
        async for item in follower:
            if isinstance(item, StoredEvent):
                await response.write(f"id: {item.id}\nevent: {item.type}\ndata: {item.body}\n\n"
                                     .encode())
            elif isinstance(item, Problem):
                await response.write(f"event: error\ndata: {_problem_json(item)}\n\n".encode())
                if item.final:
                    break
            elif isinstance(item, Heartbeat):
                await response.write(b": keep-alive\n\n")
    except (ConnectionResetError, ConnectionError):
        pass
    except asyncio.CancelledError:
        if not (watch.done() and not watch.cancelled()):
            raise
        assert writer is not None
        writer.uncancel()  # the key was revoked: this stream ends, the handler answers normally
    finally:
        watch.cancel()
        await follower.aclose()
        event(log, "events.client_gone", transport="sse", account=account.name)
    return response

