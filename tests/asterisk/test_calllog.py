"""The call log on the real bench: rows named from contacts, nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from callbridge.calllog.routes import SERVICE as CALLLOG
from tests.asterisk.ami_client import ami
from tests.asterisk.conftest import callbridge_on


def _since() -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")


async def _rows(api, since, timeout=15.0, expect=1, settle=1.0, **filters):
    """Polls until `expect` rows match the filters (then waits `settle` s for any extra)."""
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    path = f"/call_log/records_after_timestamp?timestamp={since}" + (f"&{query}" if query else "")
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = await api.ok("GET", path)
        if body["count"] >= expect:
            await asyncio.sleep(settle)  # a duplicate would show up now
            return (await api.ok("GET", path))["records"]
        await asyncio.sleep(0.25)
    raise AssertionError(f"expected {expect} rows for {filters}, got {body}")


async def test_click_to_dial_to_a_contact_is_one_outgoing_answered_row(dialer_api):
    api, since = dialer_api, _since()
    contact = (await api.ok("POST", "/contacts/contacts", json={
        "firstname": "Jenny", "lastname": "Tutone", "mobile_phone": "(580) 867-5309"}))["uuid"]
    call_id = (await api.ok("POST", "/dialer/call", json={"extension": "309",
                                                          "phonenumber": "15808675309"}))["call_id"]
    [row] = await _rows(api, since, timeout=20, number="5808675309")
    assert (row["direction"], row["disposition"], row["cidext_inside"]) == ("OUTGOING", "ANSWERED", "309")
    assert row["cidname_outside"] == "Jenny Tutone" and row["contact_uuid"] == contact
    assert row["call_id"] == call_id == row["linkedid"]
    assert row["cidnumber_outside"] == "(580) 867-5309" and row["cidnumber_inside"] == "x309"
    # talk time runs from the far end answering (the trunk hangs up 4 s after answering),
    # not from the desk phone answering a second earlier; whole seconds of the exact span, as
    # Asterisk counts billsec (truncating each end first made it 5 for some calls)
    assert row["billsec"] == 4 and row["duration"] >= row["billsec"]
    assert row["answer_timestamp"] >= row["call_timestamp"]


async def test_inbound_calls_answered_missed_and_failed(dialer_api, running_pbx):
    api, pbx, since = dialer_api, running_pbx, _since()
    await api.ok("POST", "/contacts/contacts", json={"firstname": "Mobile", "lastname": "Mike",
                                                     "mobile_phone": "555-222-3333"})
    assert await asyncio.to_thread(pbx.call_in, "5552223333", "309", talk_ms=1000) == 0
    assert await asyncio.to_thread(pbx.call_in, "5553334444", "309", cancel_after_ms=200) == 0
    await asyncio.to_thread(pbx.call_in, "5554445555", "310", talk_ms=500, timeout=5)

    [answered] = await _rows(api, since, number="5552223333")
    assert (answered["direction"], answered["disposition"]) == ("INCOMING", "ANSWERED")
    assert answered["cidname_outside"] == "Mobile Mike" and answered["cidext_inside"] == "309"
    [missed] = await _rows(api, since, number="5553334444")
    assert (missed["direction"], missed["disposition"], missed["billsec"]) == ("INCOMING", "NO ANSWER", 0)
    assert missed["cidname_outside"] == "PSTN 5553334444"  # no contact: Asterisk's caller ID name
    [failed] = await _rows(api, since, number="5554445555")
    assert (failed["disposition"], failed["cidext_inside"]) == ("FAILED", "310")
    # filters and the other account
    incoming = await _rows(api, since, expect=3, direction="INCOMING")
    assert {r["disposition"] for r in incoming} >= {"ANSWERED", "NO ANSWER", "FAILED"}
    assert (await api.ok("GET", f"/call_log/records_after_timestamp?timestamp={since}",
                         account="globex"))["count"] == 0


async def test_a_caller_name_beyond_ascii_reaches_the_call_log_whole(dialer_api, running_pbx):
    """End to end: SIP display name → Asterisk's Cdr event → the AMI reader → the row, UTF-8 intact."""
    api, pbx, since = dialer_api, running_pbx, _since()
    assert await asyncio.to_thread(pbx.call_in, "5558880001", "309", talk_ms=300,
                                   caller_name="José Müller") == 0
    [row] = await _rows(api, since, number="5558880001")
    assert row["cidname_outside"] == "José Müller" and row["contact_uuid"] is None


async def test_calls_while_callbridge_is_down_are_recovered_once(running_pbx, tmp_path):
    pbx, since, db = running_pbx, _since(), tmp_path / "cb.db"
    async with callbridge_on(pbx, db):
        pass  # callbridge ran once (schema, extensions), now it is stopped
    for caller in ("5556660001", "5556660002"):
        assert await asyncio.to_thread(pbx.call_in, caller, "309", talk_ms=300) == 0
    async with callbridge_on(pbx, db, fresh=False) as api:
        for caller in ("5556660001", "5556660002"):
            [row] = await _rows(api, since, number=caller)
            assert row["disposition"] == "ANSWERED"
        # replaying every CDR again (AMI events and Master.csv) changes nothing
        service = api.app[CALLLOG]
        before = (await api.ok("GET", f"/call_log/records_after_timestamp?timestamp={since}"))["count"]
        await service.store.db.fetchall("SELECT 1")
        async with service.db.transaction() as tx:
            await tx.execute("DELETE FROM cdr_csv_state")
        assert await service.backfill() > 0
        await asyncio.sleep(1.5)
        after = (await api.ok("GET", f"/call_log/records_after_timestamp?timestamp={since}"))["count"]
        assert after == before


async def test_replayed_cdr_events_make_no_duplicates(dialer_api, running_pbx):
    api, pbx, since = dialer_api, running_pbx, _since()
    async with ami(pbx) as (_, events):
        assert await asyncio.to_thread(pbx.call_in, "5557770001", "309", talk_ms=300) == 0
        await events.wait_for(lambda log: log.matching(Event="Cdr", Source="5557770001"), 10, "Cdr")
    [row] = await _rows(api, since, number="5557770001")
    service = api.app[CALLLOG]
    for ev in events.matching(Event="Cdr", Source="5557770001"):
        service.on_cdr(ev)
        service.on_cdr(ev)
    await asyncio.sleep(1.5)
    rows = await _rows(api, since, number="5557770001")
    assert [r["rid"] for r in rows] == [row["rid"]]


async def test_rows_keep_flowing_after_asterisk_restarts(dialer_api, running_pbx):
    api, pbx = dialer_api, running_pbx
    link_before = (await api.ok("GET", "/status"))["services"]["dialer"]["detail"]
    pbx.stop()
    await asyncio.to_thread(pbx.start)
    await asyncio.to_thread(pbx.wait_devices, "309", 2)
    since = _since()
    for _ in range(40):
        if (await api.ok("GET", "/status"))["services"]["dialer"]["status"] == "online":
            break
        await asyncio.sleep(0.25)
    assert await asyncio.to_thread(pbx.call_in, "5558880001", "309", talk_ms=300) == 0
    [row] = await _rows(api, since, number="5558880001")
    assert row["disposition"] == "ANSWERED" and link_before["ami"] == "online"


async def test_bad_queries_are_400(dialer_api):
    api = dialer_api
    assert (await api.call("GET", "/call_log/records_after_timestamp"))[1]["error"] == "Missing timestamp in query"
    status, body = await api.call("GET", "/call_log/records_after_timestamp?timestamp=yesterday")
    assert status == 400 and "YYYY-MM-DD HH:MM:SS" in body["message"]
    for bad in ("limit=0", "limit=10001", "direction=SIDEWAYS", "extension=3;09", "number=abc", "after=-1"):
        status, body = await api.call("GET", f"/call_log/records_after_timestamp?timestamp=2020-01-01 00:00:00&{bad}")
        assert status == 400, (bad, body)
