"""Live call events: what the AMI events of a call produce, per account, over WebSocket and
SSE, resumable from the journal (also after a restart), filtered, with tickets for browsers."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import AMI_LINK, NODES, create_app
from callbridge.dialer import routes as dialer_routes
from callbridge.events import calls as calls_module
from callbridge.events import routes as events_routes
from callbridge.events.hub import StoredEvent
from callbridge.events.models import StreamQuery
from callbridge.events.service import Problem
from callbridge.web import middleware as mw
from tests.conftest import Api, eventually, make_settings

LID = "1700000000.10"


def ami(app, name: str, **fields) -> None:
    """An AMI event, through the same handlers the link dispatches to."""
    link = app[AMI_LINK]
    link._run_handlers(link._handlers_for(name.lower()), name, {"Event": name, **fields})


def inbound_call_rings(app, lid: str = LID, number: str = "5551234", ext: str = "309",
                       devices=("sip:309@127.0.0.1:5071", "sip:309@127.0.0.1:5072")) -> None:
    ami(app, "Newchannel", Linkedid=lid, Uniqueid=lid, Channel="PJSIP/trunk-00000001",
        CallerIDNum=number, CallerIDName="", Exten=ext, Timestamp=f"{time.time():.6f}")
    for i, contact in enumerate(devices):
        uid = f"{lid}{i + 1}"
        ami(app, "Newchannel", Linkedid=lid, Uniqueid=uid, Channel=f"PJSIP/{ext}-0000000{i}")
        ami(app, "DialBegin", Linkedid=lid, Uniqueid=lid, Channel="PJSIP/trunk-00000001",
            CallerIDNum=number, Exten=ext, DestChannel=f"PJSIP/{ext}-0000000{i}",
            DestUniqueid=uid, DialString=f"{ext}/{contact}", Timestamp=f"{time.time():.6f}")


async def stored_through(app, last: int, account_id: int = 1) -> None:
    """Waits until the journal has stored the account's events up to id `last` (the ringing is
    announced after its coalescing window and, with a number, a contact lookup)."""
    journal = app[events_routes.SERVICE].journal

    async def stored() -> bool:
        await journal.flush()
        return await journal.last_id(account_id) >= last
    await eventually(stored, 5.0, f"event {last} stored")


@pytest.fixture
async def events_api(tmp_path):
    app = create_app(make_settings(tmp_path, events_heartbeat=0.5))
    async with TestClient(TestServer(app)) as client:
        accounts = app[mw.ACCOUNT]
        keys = {name: (await accounts.create_key(name))[1] for name in ("acme", "globex")}
        extensions = app[dialer_routes.SERVICE].extensions
        await extensions.add("acme", "309")
        await extensions.add("globex", "310")
        yield Api(client, keys, app)


async def next_event(ws, timeout: float = 3.0) -> dict:
    # asyncio.timeout, not receive(timeout=): aiohttp's applies per frame, and the server's pings
    # (every 0.5 s here) are frames: a stream with no event would be waited on for ever
    async with asyncio.timeout(timeout):
        msg = await ws.receive()
    assert msg.type.name == "TEXT", msg
    return json.loads(msg.data)


async def test_an_inbound_call_pops_with_its_contact_and_both_devices(events_api):
    api = events_api
    await api.ok("POST", "/contacts/contacts", json={
        "firstname": "Ada", "lastname": "Lovelace", "organization": "Analytical Engines",
        "note": "prefers mornings", "profile_url": "https://crm.example.com/c/1",
        "mobile_phone": "5551234"})
    async with api.client.ws_connect("/events", headers={"x-api-key": api.keys["acme"]}) as ws:
        inbound_call_rings(api.app)
        ringing = await next_event(ws)
        assert ringing["type"] == "call.ringing" and ringing["id"] == 1
        data = ringing["data"]
        assert data["call_id"] == LID and data["direction"] == "inbound"
        assert data["extension"] == "309" and data["caller"] == "5551234"
        assert data["devices"] == ["sip:309@127.0.0.1:5071", "sip:309@127.0.0.1:5072"]
        assert data["contact"]["name"] == "Ada Lovelace"
        assert data["contact"]["organization"] == "Analytical Engines"
        assert data["contact"]["note"] == "prefers mornings"
        assert data["contact"]["profile_url"] == "https://crm.example.com/c/1"
        assert ringing["time"].endswith("Z")
        ami(api.app, "DialEnd", Linkedid=LID, Uniqueid=LID, DestUniqueid=f"{LID}2",
            DestChannel="PJSIP/309-00000001", DialStatus="ANSWER")
        answered = await next_event(ws)
        assert answered["type"] == "call.answered" and answered["id"] == 2
        assert answered["data"]["device"] == "sip:309@127.0.0.1:5072"


async def test_a_ringing_read_late_with_its_end_still_pops_and_an_instant_failure_does_not(
        events_api):
    """A busy loop reads a backlog in one go: the DialBegins and, half a second later by
    Asterisk's clock, the DialEnds of a caller who gave up arrive before the coalescing timer
    fires. It rang: call.ringing names both devices (it once said nothing at all, and the
    missed call came with no ringing before it; CI, PostgreSQL). A device that fails within the
    window by Asterisk's clock (unreachable) is still not a ringing."""
    async with events_api.client.ws_connect("/events", headers={"x-api-key":
                                                                 events_api.keys["acme"]}) as ws:
        inbound_call_rings(events_api.app, lid="30.1")
        later = f"{time.time() + 0.5:.6f}"
        for i in (1, 2):
            ami(events_api.app, "DialEnd", Linkedid="30.1", Uniqueid="30.1",
                DestUniqueid=f"30.1{i}", DestChannel=f"PJSIP/309-0000000{i - 1}",
                DialStatus="CANCEL", Timestamp=later)
        ringing = await next_event(ws)
        assert ringing["type"] == "call.ringing" and ringing["data"]["call_id"] == "30.1"
        assert ringing["data"]["devices"] == ["sip:309@127.0.0.1:5071", "sip:309@127.0.0.1:5072"]
        now = f"{time.time():.6f}"
        inbound_call_rings(events_api.app, lid="31.1", devices=("sip:309@127.0.0.1:5071",))
        ami(events_api.app, "DialEnd", Linkedid="31.1", Uniqueid="31.1", DestUniqueid="31.11",
            DestChannel="PJSIP/309-00000000", DialStatus="CHANUNAVAIL", Timestamp=now)
        with pytest.raises(TimeoutError):
            await next_event(ws, timeout=0.5)


async def test_an_unknown_caller_pops_with_no_contact(events_api):
    async with events_api.client.ws_connect(
            "/events", headers={"x-api-key": events_api.keys["acme"]}) as ws:
        inbound_call_rings(events_api.app, number="5559999")
        ringing = await next_event(ws)
        assert ringing["data"]["contact"] is None and ringing["data"]["number"] == "5559999"


async def test_accounts_never_see_each_others_events(events_api):
    api = events_api
    h = {"acme": {"x-api-key": api.keys["acme"]}, "globex": {"x-api-key": api.keys["globex"]}}
    async with api.client.ws_connect("/events", headers=h["acme"]) as acme, \
            api.client.ws_connect("/events", headers=h["globex"]) as globex:
        inbound_call_rings(api.app, lid="1.1", ext="309")
        inbound_call_rings(api.app, lid="2.2", ext="310")
        a, g = await next_event(acme), await next_event(globex)
        assert (a["data"]["extension"], a["data"]["call_id"]) == ("309", "1.1")
        assert (g["data"]["extension"], g["data"]["call_id"]) == ("310", "2.2")
        assert a["id"] == g["id"] == 1  # each account numbers its own events
        with pytest.raises(asyncio.TimeoutError):
            await acme.receive(timeout=0.3)  # nothing of globex's arrives at acme
    # nor by replay
    async with api.client.ws_connect("/events?after=0", headers=h["acme"]) as acme:
        assert (await next_event(acme))["data"]["call_id"] == "1.1"
        with pytest.raises(asyncio.TimeoutError):
            await acme.receive(timeout=0.3)


async def test_an_unowned_extension_produces_nothing(events_api):
    async with events_api.client.ws_connect(
            "/events", headers={"x-api-key": events_api.keys["acme"]}) as ws:
        inbound_call_rings(events_api.app, ext="399")
        await events_api.app[events_routes.SERVICE].journal.flush()
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.3)
    assert await events_api.app[events_routes.SERVICE].journal.last_id(1) == 0


async def test_resume_replays_what_was_missed_over_sse_and_websocket(events_api):
    api = events_api
    for i in range(5):
        inbound_call_rings(api.app, lid=f"10.{i}")
    await stored_through(api.app, 5)
    async with api.client.ws_connect("/events?after=2", headers={"x-api-key": api.keys["acme"]}) as ws:
        got = [await next_event(ws) for _ in range(3)]
    assert [e["id"] for e in got] == [3, 4, 5]
    resp = await api.client.get("/events", headers={"x-api-key": api.keys["acme"],
                                                    "Accept": "text/event-stream",
                                                    "Last-Event-ID": "3"})
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    text = ""
    while text.count("\n\nid:") < 1 or "id: 5" not in text:
        text += (await asyncio.wait_for(resp.content.readany(), 3)).decode()
    resp.close()
    frames = [f for f in text.split("\n\n") if f.startswith("id:")]
    assert frames[0].startswith("id: 4\nevent: call.ringing\ndata: {")
    assert json.loads(frames[1].split("data: ", 1)[1])["data"]["call_id"] == "10.4"


async def test_the_journal_survives_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        key = (await app[mw.ACCOUNT].create_key("acme"))[1]
        await app[dialer_routes.SERVICE].extensions.add("acme", "309")
        inbound_call_rings(app, lid="20.1")  # and the service stops at once: the ringing,
        # still waiting for its contact lookup, is stored before the journal closes
    app = create_app(settings)  # a new process's worth of state: only the database remains
    async with TestClient(TestServer(app)) as client:
        async with client.ws_connect("/events?after=0", headers={"x-api-key": key}) as ws:
            first = await next_event(ws)
            assert first["id"] == 1 and first["data"]["call_id"] == "20.1"
            inbound_call_rings(app, lid="20.2")
            second = await next_event(ws)
            assert second["id"] == 2 and second["data"]["call_id"] == "20.2"  # ids go on


async def test_a_lookup_that_hangs_holds_the_stop_a_bounded_time(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(calls_module, "DRAIN_SECONDS", 0.3)
    app = create_app(make_settings(tmp_path))
    client = TestClient(TestServer(app))
    await client.start_server()
    await app[dialer_routes.SERVICE].extensions.add("acme", "309")
    await app[mw.ACCOUNT].create_key("acme")
    node = app[NODES][0]

    async def hangs(*args):  # the database out of reach, its timeout far off
        await asyncio.Event().wait()
    monkeypatch.setattr(node.calls.notifier.contacts, "card_for", hangs)
    inbound_call_rings(app, lid="21.1")
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 3
    assert any(r.getMessage() == "events.drain_timeout" for r in caplog.records)


async def test_filters_by_type_and_extension(events_api):
    api = events_api
    await api.app[dialer_routes.SERVICE].extensions.add("acme", "311")
    async with api.client.ws_connect("/events?types=call.answered&extension=309",
                                     headers={"x-api-key": api.keys["acme"]}) as ws:
        inbound_call_rings(api.app, lid="30.1", ext="311")
        ami(api.app, "DialEnd", Linkedid="30.1", DestUniqueid="30.11", DialStatus="ANSWER",
            DestChannel="PJSIP/311-00000000")
        inbound_call_rings(api.app, lid="30.2", ext="309")
        ami(api.app, "DialEnd", Linkedid="30.2", DestUniqueid="30.21", DialStatus="ANSWER",
            DestChannel="PJSIP/309-00000000")
        got = await next_event(ws)
        assert got["type"] == "call.answered" and got["data"]["call_id"] == "30.2"


async def test_bad_stream_requests_are_clear_400s(events_api):
    api = events_api
    key = {"x-api-key": api.keys["acme"]}
    status, body = await api.call("GET", "/events")
    assert status == 400 and body["error"] == "Not an event stream request"
    status, body = await api.call("GET", "/events?types=calls.*",
                                  headers={"Accept": "text/event-stream"})
    assert status == 400 and body["field"] == "types"
    status, body = await api.call("GET", "/events?after=99",
                                  headers={"Accept": "text/event-stream"})
    assert status == 400 and body["field"] == "after" and "ahead" in body["message"]
    status, body = await api.call("GET", "/events?extension=30;9",
                                  headers={"Accept": "text/event-stream"})
    assert status == 400 and body["field"] == "extension"
    resp = await api.client.get("/events", headers={"Accept": "text/event-stream"})
    assert resp.status == 401
    del key


async def test_a_ticket_opens_one_stream_once(events_api):
    api = events_api
    ticket = (await api.ok("POST", "/events/ticket"))["ticket"]
    async with api.client.ws_connect(f"/events?ticket={ticket}") as ws:
        inbound_call_rings(api.app)
        assert (await next_event(ws))["type"] == "call.ringing"
    resp = await api.client.get(f"/events?ticket={ticket}", headers={"Accept": "text/event-stream"})
    assert resp.status == 403 and (await resp.json())["error"] == "Invalid ticket"
    resp = await api.client.get("/events?ticket=tk_forged", headers={"Accept": "text/event-stream"})
    assert resp.status == 403
    resp = await api.client.get(f"/contacts/contacts?ticket={ticket}")
    assert resp.status == 401  # a ticket opens the event stream, nothing else


async def test_expired_events_are_said_then_the_stream_goes_on(events_api):
    api = events_api
    for i in range(3):
        inbound_call_rings(api.app, lid=f"40.{i}")
    journal = api.app[events_routes.SERVICE].journal
    await stored_through(api.app, 3)
    await journal.prune(now=time.time() + journal.retention_seconds + 1)
    inbound_call_rings(api.app, lid="40.9")
    await stored_through(api.app, 4)
    async with api.client.ws_connect("/events?after=1", headers={"x-api-key": api.keys["acme"]}) as ws:
        problem = await next_event(ws)
        assert problem["type"] == "error" and problem["data"]["error"] == "events_expired"
        assert "call log" in problem["data"]["message"]
        nxt = await next_event(ws)
        assert nxt["id"] == 4 and nxt["data"]["call_id"] == "40.9"


async def test_a_slow_client_is_closed_with_where_to_resume_and_others_are_not_held(events_api):
    service = events_api.app[events_routes.SERVICE]
    service.buffer = 10
    account = await events_api.app[mw.ACCOUNT].get_account("acme")
    slow = service.follow(account, StreamQuery())
    fast = service.follow(account, StreamQuery())
    first_slow = asyncio.ensure_future(slow.__anext__())
    first_fast = asyncio.ensure_future(fast.__anext__())
    await asyncio.sleep(0.01)
    events = [StoredEvent(account.id, i, "call.ringing", "309", "{}") for i in range(1, 51)]
    service.hub.publish(events[:1])
    assert (await first_slow).id == 1 and (await first_fast).id == 1
    got = []
    for start in range(1, 46, 5):  # the fast client keeps up; the slow one reads nothing
        service.hub.publish(events[start:start + 5])  # never awaits anyone
        got += [await fast.__anext__() for _ in range(5)]
    assert [getattr(e, "id", e) for e in got] == list(range(2, 47))
    problem = await slow.__anext__()
    assert isinstance(problem, Problem) and problem.error == "too_slow" and problem.after == 1
    with pytest.raises(StopAsyncIteration):
        await slow.__anext__()
    await fast.aclose()
    assert service.hub.client_count() == 0


async def test_device_state_and_dial_progress(events_api):
    api = events_api
    async with api.client.ws_connect("/events", headers={"x-api-key": api.keys["acme"]}) as ws:
        ami(api.app, "ContactStatus", AOR="309", URI="sip:309@127.0.0.1:5071",
            ContactStatus="Unreachable")
        dev = await next_event(ws)
        assert dev["type"] == "device.state"
        assert dev["data"] == {"extension": "309", "device": "sip:309@127.0.0.1:5071",
                               "state": "unreachable", "reason": "Unreachable",
                               "node": "default"}
        ami(api.app, "ContactStatus", AOR="310", URI="sip:310@x", ContactStatus="Reachable")
        tracker = api.app[dialer_routes.SERVICE].tracker
        tracker.start("c-1", 1, "309", "5551234")
        tracker.fail("c-1", "no device answered")
        queued, ended = await next_event(ws), await next_event(ws)
        assert (queued["type"], queued["data"]["state"]) == ("dial.progress", "queued")
        assert ended["data"]["state"] == "ended"
        assert ended["data"]["failure_reason"] == "no device answered"


def _row(**over) -> dict:
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    row = {"account_id": 1, "linkedid": "50.1", "extension": "309", "call_timestamp": now,
           "end_timestamp": now, "duration": 12, "billsec": 0, "direction": "INCOMING",
           "disposition": "NO ANSWER", "cidname_outside": "Ada", "cidnumber_outside": "5551234",
           "contact_uuid": None, "rid": 7}
    row.update(over)
    return row


async def test_call_ended_and_missed_come_from_call_log_rows_in_their_transaction(events_api):
    from callbridge.calllog import routes as calllog_routes
    endings = events_api.app[calllog_routes.SERVICE].row_listener
    db = events_api.app[calllog_routes.SERVICE].db
    old = "2020-01-01 00:00:00"  # older than retention: a history import journals nothing
    rows = [_row(), _row(linkedid="50.2", disposition="ANSWERED", billsec=10, rid=8),
            _row(linkedid="50.3", call_timestamp=old, end_timestamp=old, rid=9),
            _row(linkedid="50.4", account_id=None, rid=10)]
    async with db.loop_transaction() as tx:
        stored = await endings.in_transaction(tx, rows)
    endings.committed(stored)
    async with events_api.client.ws_connect(
            "/events?after=0", headers={"x-api-key": events_api.keys["acme"]}) as ws:
        got = [await next_event(ws) for _ in range(3)]
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.3)
    assert [(e["type"], e["data"]["call_id"]) for e in got] == [
        ("call.ended", "50.1"), ("call.missed", "50.1"), ("call.ended", "50.2")]
    assert got[0]["data"]["rid"] == 7 and got[0]["data"]["duration"] == 12
    assert got[2]["data"]["disposition"] == "ANSWERED"


async def test_click_to_dial_rings_devices_and_mobile_but_the_far_end_is_no_device(events_api):
    api = events_api
    lid = "60.1"
    ring = "Local/309@callbridge-ring-00000001"
    async with api.client.ws_connect("/events?types=call.*",
                                     headers={"x-api-key": api.keys["acme"]}) as ws:
        ami(api.app, "Newchannel", Linkedid=lid, Uniqueid=lid, Channel=ring + ";1",
            CallerIDNum="", Exten="309")
        ami(api.app, "DialBegin", Linkedid=lid, Uniqueid=lid + "-2", Channel=ring + ";2",
            DestChannel="PJSIP/309-00000001", DestUniqueid="d1",
            DialString="309/sip:309@127.0.0.1:5071")
        ami(api.app, "DialBegin", Linkedid=lid, Uniqueid=lid + "-2", Channel=ring + ";2",
            DestChannel="PJSIP/trunk-00000002", DestUniqueid="d2",
            DialString="15550001111@trunk")
        ringing = await next_event(ws)
        assert ringing["data"]["direction"] == "outbound"
        assert ringing["data"]["devices"] == ["mobile", "sip:309@127.0.0.1:5071"]
        ami(api.app, "DialEnd", Linkedid=lid, DestUniqueid="d1", DialStatus="ANSWER",
            DestChannel="PJSIP/309-00000001")
        assert (await next_event(ws))["data"]["device"] == "sip:309@127.0.0.1:5071"
        # the ;1 leg now dials the number: the far end, neither a device nor a new pop
        ami(api.app, "DialBegin", Linkedid=lid, Uniqueid=lid, Channel=ring + ";1",
            DestChannel="PJSIP/trunk-00000003", DestUniqueid="d3", DialString="5808675309@trunk")
        ami(api.app, "DialEnd", Linkedid=lid, DestUniqueid="d3", DialStatus="ANSWER",
            DestChannel="PJSIP/trunk-00000003")
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.3)


async def test_a_real_websocket_client_that_stops_reading_is_closed_with_where_to_resume(tmp_path):
    app = create_app(make_settings(tmp_path, events_client_buffer=10))
    async with TestClient(TestServer(app)) as client:
        key = (await app[mw.ACCOUNT].create_key("acme"))[1]
        hub = app[events_routes.SERVICE].hub
        ws = await client.ws_connect("/events", headers={"x-api-key": key}, max_msg_size=0)
        first = StoredEvent(1, 1, "call.ringing", "309", json.dumps({"id": 1}))
        hub.publish([first])
        assert json.loads((await ws.receive(timeout=3)).data) == {"id": 1}
        big = "x" * 20_000
        fast = await client.ws_connect("/events", headers={"x-api-key": key})
        # the slow client reads nothing now: its socket backs up, then its buffer overflows
        for i in range(2, 2002):  # 40 MB: more than any socket buffer holds
            hub.publish([StoredEvent(1, i, "call.ringing", "309",
                                     json.dumps({"id": i, "pad": big}))])
            got = json.loads((await fast.receive(timeout=3)).data)  # the fast one keeps up
            assert got["id"] == i, got
        seen, closed = [], None
        while closed is None:
            msg = await ws.receive(timeout=5)
            if msg.type.name == "TEXT":
                seen.append(json.loads(msg.data))
            else:
                closed = msg
        problem = seen[-1]
        assert problem["type"] == "error" and problem["data"]["error"] == "too_slow"
        assert closed.type.name == "CLOSE" and closed.data == 4008
        # what it got is gapless, and it is told to resume after the last of it
        delivered = [e["id"] for e in seen[:-1]]
        assert problem["data"]["after"] == delivered[-1] and delivered == list(
            range(2, delivered[-1] + 1))
        await fast.close()


async def test_sse_sends_heartbeats_when_idle(events_api):
    resp = await events_api.client.get("/events", headers={
        "x-api-key": events_api.keys["acme"], "Accept": "text/event-stream"})
    text = ""
    deadline = time.monotonic() + 3
    while ": keep-alive" not in text and time.monotonic() < deadline:
        text += (await asyncio.wait_for(resp.content.readany(), 3)).decode()
    resp.close()
    assert text.startswith("retry: 2000") and ": keep-alive" in text


async def test_revoking_a_key_ends_the_streams_it_opened(events_api):
    api = events_api
    service = api.app[events_routes.SERVICE]
    service.key_check = 0.1
    accounts = api.app[mw.ACCOUNT]
    info, key = await accounts.create_key("acme")
    ws = await api.client.ws_connect("/events", headers={"x-api-key": key})
    sse = await api.client.get("/events", headers={"x-api-key": key,
                                                   "Accept": "text/event-stream"})
    other = await api.client.ws_connect("/events", headers={"x-api-key": api.keys["acme"]})
    await accounts.revoke_key(info.id)
    closed = await ws.receive(timeout=3)
    assert closed.type.name == "CLOSE" and closed.data == 4001
    body = await asyncio.wait_for(sse.read(), 3)  # the SSE stream ends
    assert body.startswith(b"retry: 2000")
    inbound_call_rings(api.app)  # the other key's stream goes on
    assert (await next_event(other))["type"] == "call.ringing"
    await other.close()


def queue_rings(app, lid: str, members: dict[str, str]) -> None:
    """A queue (or ring group) call from the trunk ringing one device of each member extension
    (extension -> the dialled device's uniqueid)."""
    ami(app, "Newchannel", Linkedid=lid, Uniqueid=lid, Channel="PJSIP/trunk-00000001",
        CallerIDNum="5551234", CallerIDName="", Exten="700", Timestamp=f"{time.time():.6f}")
    for ext, uid in members.items():
        ami(app, "Newchannel", Linkedid=lid, Uniqueid=uid, Channel=f"PJSIP/{ext}-{uid}")
        ami(app, "DialBegin", Linkedid=lid, Uniqueid=lid, Channel="PJSIP/trunk-00000001",
            CallerIDNum="5551234", Exten="700", DestChannel=f"PJSIP/{ext}-{uid}",
            DestUniqueid=uid, DialString=f"{ext}", Timestamp=f"{time.time():.6f}")


async def test_a_queue_call_answered_at_one_member_closes_the_others_card(events_api):
    """Answered elsewhere: 309's card closes with call.taken naming 311 (and no call.answered
    for 309); 311's stream has its ringing and its answer, and no call.taken."""
    api = events_api
    await api.app[dialer_routes.SERVICE].extensions.add("acme", "311")
    h = {"x-api-key": api.keys["acme"]}
    async with api.client.ws_connect("/events?extension=309", headers=h) as at309, \
            api.client.ws_connect("/events?extension=311", headers=h) as at311:
        queue_rings(api.app, "40.1", {"309": "40.11", "311": "40.12"})
        assert (await next_event(at309))["type"] == "call.ringing"
        assert (await next_event(at311))["type"] == "call.ringing"
        ami(api.app, "DialEnd", Linkedid="40.1", Uniqueid="40.1", DestUniqueid="40.12",
            DestChannel="PJSIP/311-40.12", DialStatus="ANSWER")
        ami(api.app, "DialEnd", Linkedid="40.1", Uniqueid="40.1", DestUniqueid="40.11",
            DestChannel="PJSIP/309-40.11", DialStatus="CANCEL")
        taken = await next_event(at309)
        assert taken["type"] == "call.taken"
        assert taken["data"] == {"call_id": "40.1", "direction": "inbound", "extension": "309",
                                 "taken_by": "311", "reason": "answered_elsewhere",
                                 "node": "default"}
        assert (await next_event(at311))["type"] == "call.answered"
        for ws in (at309, at311):
            with pytest.raises(TimeoutError):
                await next_event(ws, timeout=0.3)


async def test_a_member_answered_within_the_window_leaves_the_others_unpopped(events_api):
    """311 answers before 309's ringing was announced: 309 never pops, so it gets nothing."""
    api = events_api
    await api.app[dialer_routes.SERVICE].extensions.add("acme", "311")
    async with api.client.ws_connect("/events?extension=309",
                                     headers={"x-api-key": api.keys["acme"]}) as at309:
        queue_rings(api.app, "41.1", {"309": "41.11", "311": "41.12"})
        ami(api.app, "DialEnd", Linkedid="41.1", Uniqueid="41.1", DestUniqueid="41.12",
            DestChannel="PJSIP/311-41.12", DialStatus="ANSWER")
        with pytest.raises(TimeoutError):
            await next_event(at309, timeout=0.5)


async def test_a_directed_pickup_answers_for_the_picker_and_closes_the_ringing_card(events_api):
    """311 picks up 309's ringing call: Asterisk ends the trunk's dial with 311's channel, which
    never rang. 311 answered; 309's card closes (picked_up); 309 answered nothing."""
    api = events_api
    await api.app[dialer_routes.SERVICE].extensions.add("acme", "311")
    h = {"x-api-key": api.keys["acme"]}
    async with api.client.ws_connect("/events?extension=309", headers=h) as at309, \
            api.client.ws_connect("/events?extension=311", headers=h) as at311:
        queue_rings(api.app, "42.1", {"309": "42.11"})
        assert (await next_event(at309))["type"] == "call.ringing"
        ami(api.app, "Newchannel", Linkedid="43.1", Uniqueid="43.1",
            Channel="PJSIP/311-00000009", CallerIDNum="311", Exten="**309")
        ami(api.app, "DialEnd", Linkedid="42.1", Uniqueid="42.1", DestUniqueid="43.1",
            DestChannel="PJSIP/311-00000009", DialStatus="ANSWER")
        taken = await next_event(at309)
        assert taken["type"] == "call.taken"
        assert (taken["data"]["taken_by"], taken["data"]["reason"]) == ("311", "picked_up")
        answered = await next_event(at311)
        assert answered["type"] == "call.answered" and answered["data"]["call_id"] == "42.1"
        with pytest.raises(TimeoutError):
            await next_event(at309, timeout=0.3)


async def test_a_transfer_is_told_to_the_transferer_and_to_the_target_with_the_caller(
        events_api):
    """AttendedTransfer names its channels with prefixes and no plain Linkedid (the call model
    once dropped it): 309 and 311 each get call.transferred, with the caller's number; the target
    is read from the Local pair the transfer dialled, or, when that is gone, from whom the
    transferer was connected to. A BlindTransfer names the target's extension."""
    api = events_api
    await api.app[dialer_routes.SERVICE].extensions.add("acme", "311")
    h = {"x-api-key": api.keys["acme"]}
    async with api.client.ws_connect("/events?extension=309", headers=h) as at309, \
            api.client.ws_connect("/events?extension=311", headers=h) as at311:
        for lid, target_channel in (("43.1", "Local/311@internal-00000000;1"), ("44.1", "")):
            queue_rings(api.app, lid, {"309": f"{lid}1"})
            assert (await next_event(at309))["type"] == "call.ringing"
            ami(api.app, "AttendedTransfer", Result="Success",
                OrigTransfererChannel=f"PJSIP/309-{lid}1", OrigTransfererLinkedid=lid,
                SecondTransfererChannel=f"PJSIP/309-{lid}1", SecondTransfererConnectedLineNum="311",
                TransfereeChannel="PJSIP/trunk-00000001", TransfereeLinkedid=lid,
                TransferTargetChannel=target_channel, DestType="Bridge",
                Timestamp=f"{time.time():.6f}")
            for ws, extension in ((at309, "309"), (at311, "311")):
                told = await next_event(ws)
                assert told["type"] == "call.transferred"
                assert told["data"] == {
                    "call_id": lid, "direction": "inbound", "extension": extension,
                    "transferred_by": "309", "to": "311", "kind": "attended",
                    "number": "5551234", "contact": None, "node": "default"}
        queue_rings(api.app, "45.1", {"309": "45.11"})
        assert (await next_event(at309))["type"] == "call.ringing"
        ami(api.app, "BlindTransfer", Result="Success", TransfererChannel="PJSIP/309-45.11",
            TransfererLinkedid="45.1", Extension="311", Context="internal")
        for ws in (at309, at311):
            told = await next_event(ws)
            assert (told["type"], told["data"]["kind"], told["data"]["to"]) == (
                "call.transferred", "blind", "311")
        ami(api.app, "BlindTransfer", Result="Fail", TransfererChannel="PJSIP/309-45.11",
            TransfererLinkedid="45.1", Extension="311")
        with pytest.raises(TimeoutError):
            await next_event(at309, timeout=0.3)
