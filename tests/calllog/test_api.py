"""The Call Log API without a PBX: CDRs fed to the real service and store, then read over HTTP."""

from __future__ import annotations

import pytest

from callbridge.admin.routes import EXTENSIONS
from callbridge.app import DATABASE
from callbridge.calllog.routes import SERVICE
from callbridge.web import middleware as mw
from tests.calllog.test_builder import C2D, FAILED, INBOUND, cdr


@pytest.fixture
async def log_api(api):
    ext = api.app[EXTENSIONS]
    await ext.add("acme", "309", did="+1 (212) 555-0100")
    await ext.add("globex", "310")
    return api


async def _ingest(api, records):
    service = api.app[SERVICE]
    for r in records:
        service._queue.append({"lastapp": "Dial", **r, "source": "ami", "duration": 0})
        service._pending[r["linkedid"]] = 0.0
    await service.flush(final=True)


def _inbound(n: int, caller: str, start: str) -> dict:
    return cdr(n, caller, "309", "extensions", f'"Caller {n}" <{caller}>', "PJSIP/trunk-0000",
               "PJSIP/309-0001", start, start, start, 1, "ANSWERED", f"u{n}", f"u{n}")


async def test_rows_are_account_scoped_and_formatted(log_api):
    await log_api.ok("POST", "/contacts/contacts", json={"firstname": "Pat", "phone_numbers": ["555-1234"]})
    await _ingest(log_api, [*C2D, *INBOUND, *FAILED])
    body = await log_api.ok("GET", "/call_log/records_after_timestamp?timestamp=2026-01-01 00:00:00")
    assert body["success"] is True and body["count"] == 2 and body["next"] is None
    by_dir = {r["direction"]: r for r in body["records"]}
    assert by_dir["INCOMING"]["cidname_outside"] == "Pat"  # a contact's other phone matches too
    assert by_dir["INCOMING"]["cidnumber_inside"] == "(212) 555-0100, x309"
    assert by_dir["OUTGOING"]["cidnumber_outside"] == "(580) 867-5309"
    other = await log_api.ok("GET", "/call_log/records_after_timestamp?timestamp=2026-01-01 00:00:00",
                             account="globex")
    assert [r["cidext_inside"] for r in other["records"]] == ["310"]


async def test_rows_of_extensions_no_account_owns_are_kept_but_not_served(log_api):
    orphan = cdr(1, "5550000", "399", "extensions", "", "PJSIP/trunk-1", "PJSIP/399-1",
                 "2026-11-22 10:00:00", None, "2026-11-22 10:00:05", 0, "NO ANSWER", "o1", "o1")
    await _ingest(log_api, [orphan])
    for account in ("acme", "globex"):
        body = await log_api.ok("GET", "/call_log/records_after_timestamp?timestamp=2020-01-01 00:00:00",
                                account=account)
        assert all(r["cidext_inside"] != "399" for r in body["records"])
    stored = await log_api.app[DATABASE].fetchall("SELECT account_id FROM call_log WHERE extension = '399'")
    assert [r[0] for r in stored] == [None]


async def test_cursor_pages_through_rows_that_share_a_timestamp(log_api):
    same = "2026-11-22 12:00:00"
    await _ingest(log_api, [_inbound(i, f"55500{i:02d}", same) for i in range(7)])
    seen, after = [], 0
    while True:
        page = await log_api.ok("GET", f"/call_log/records_after_timestamp?timestamp=2026-11-22 11:59:59"
                                       f"&limit=3&after={after}")
        seen += [r["rid"] for r in page["records"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert len(seen) == 7 == len(set(seen)) and seen == sorted(seen)
    assert (await log_api.ok("GET", f"/call_log/records_after_timestamp?timestamp={same}"))["count"] == 0


async def test_filters_and_csv(log_api):
    await _ingest(log_api, [*C2D, *INBOUND])
    base = "/call_log/records_after_timestamp?timestamp=2026-01-01 00:00:00"
    assert [r["direction"] for r in (await log_api.ok("GET", base + "&direction=OUTGOING"))["records"]] == ["OUTGOING"]
    assert (await log_api.ok("GET", base + "&number=(555) 123-4"))["count"] == 1
    assert (await log_api.ok("GET", base + "&extension=310"))["count"] == 0
    status, text = await log_api.call("GET", base, headers={"Accept": "text/csv"})
    lines = text.strip().splitlines()
    assert status == 200 and lines[0].startswith("rid,call_timestamp,") and len(lines) == 3


async def test_the_same_cdrs_twice_make_no_new_rows(log_api):
    await _ingest(log_api, [*C2D, *INBOUND])
    first = await log_api.ok("GET", "/call_log/records_after_timestamp?timestamp=2026-01-01 00:00:00")
    await _ingest(log_api, [*INBOUND, *C2D])
    again = await log_api.ok("GET", "/call_log/records_after_timestamp?timestamp=2026-01-01 00:00:00")
    assert again == first


async def test_recent_dials_forget_the_oldest_not_the_calls_in_flight(log_api, monkeypatch):
    from callbridge.calllog import far_end

    monkeypatch.setattr(far_end, "MAX_RECENT_DIALS", 3)
    service = log_api.app[SERVICE]
    account = await log_api.app[mw.ACCOUNT].get_account("acme")
    for i in range(5):
        await service.record_dial(f"call-{i}", account, "309", "15808675309")
    assert list(service.far_ends._dialed) == ["call-2", "call-3", "call-4"]


async def test_setting_an_accounts_region_rekeys_its_call_log_numbers(log_api):
    """A Danish caller's 8 digits, logged while the account read numbers as US, are found by
    any Danish spelling once the account is set to DK (its call log re-keyed with its contacts)."""
    await _ingest(log_api, [_inbound(71, "71999999", "2026-11-20 10:00:00")])
    url = "/call_log/records_after_timestamp?timestamp=2026-01-01 00:00:00&number={}"
    assert (await log_api.ok("GET", url.format("+4571999999")))["count"] == 0
    await log_api.app[mw.ACCOUNT].set_region("acme", "DK")
    for spelling in ("+45 71 99 99 99", "004571999999", "71999999"):
        assert (await log_api.ok("GET", url.format(spelling)))["count"] == 1, spelling
    other = await log_api.app[DATABASE].fetchall(
        "SELECT number_outside FROM call_log WHERE account_id != 1 AND number_outside IS NOT NULL")
    assert all(not r[0].startswith("+45") for r in other)


async def test_what_the_call_log_follows_of_calls_is_forgotten_when_they_end(log_api):
    """Hangups were kept until the next reconnect and a click's far end for ever: ~15 ids a
    second at 5 calls a second, for as long as the link stayed up."""
    service = log_api.app[SERVICE]
    account = await log_api.app[mw.ACCOUNT].get_account("acme")
    for n in range(200):
        lid = f"c2d-{n}"
        await service.record_dial(lid, account, "309", "15808675309")
        events = [("Newchannel", lid, lid), ("Newchannel", f"{lid}-2", lid),
                  ("Newchannel", f"far-{n}", lid)]
        model = service.calls  # the node's call model, which tells the call log
        for name, uid, linked in events:
            model.feed({"Event": name, "Uniqueid": uid, "Linkedid": linked,
                        "Channel": "PJSIP/trunk-1", "Timestamp": "1700000000.0"})
        model.feed({"Event": "DialEnd", "Uniqueid": lid, "Linkedid": lid,
                    "DestUniqueid": f"far-{n}", "DialStatus": "ANSWER",
                    "Timestamp": "1700000001.0"})
        assert service.far_ends._far_uid[lid] == f"far-{n}"
        for uid in (f"far-{n}", f"{lid}-2", lid):
            model.feed({"Event": "Hangup", "Uniqueid": uid, "Linkedid": lid,
                        "Timestamp": "1700000009.0"})
    assert service.far_ends._far_uid == {} and len(service.calls) == 0
    assert service.calls._hung_up is None  # only a reconnect's snapshot collects hangups


async def test_a_click_answered_before_this_instance_took_the_node_gets_the_far_ends_talk_time(
        log_api, monkeypatch):
    """The instance reading the node was killed mid-call; this one, which took the node over,
    had followed the click's far end all along (its times are saved by every instance), so the
    row's talk time runs from the far end answering, not from the desk phone answering (the
    trunk leg's CDR: 2 s here). The times are exact: 20:39:15.950 to 20:39:17.050 is 1 s, as
    Asterisk counts billsec; truncating each end first made it 2."""
    from callbridge.app import NODES

    [node] = log_api.app[NODES]
    reads = {"node": False}  # another instance reads the node
    monkeypatch.setattr(type(node.lease), "held", property(lambda lease: reads["node"]))
    events = [{"Event": "Newchannel", "Uniqueid": "C2D", "Linkedid": "C2D",
               "Channel": "Local/309@callbridge-ring-00000000;1", "Exten": "309"},
              {"Event": "Newchannel", "Uniqueid": "far", "Linkedid": "C2D",
               "Channel": "PJSIP/trunk-00000002"},
              {"Event": "DialEnd", "Uniqueid": "C2D", "Linkedid": "C2D", "DestUniqueid": "far",
               "DestChannel": "PJSIP/trunk-00000002", "DialStatus": "ANSWER",
               "Timestamp": "1795380955.950"}]
    for ev in events:
        node.model.feed({"Timestamp": "1795380954.0", **ev})
    reads["node"] = True  # the reader died: this instance holds the node now
    node.model.feed({"Event": "Hangup", "Uniqueid": "far", "Linkedid": "C2D",
                     "Timestamp": "1795380957.050"})
    node.model.feed({"Event": "Hangup", "Uniqueid": "C2D", "Linkedid": "C2D",
                     "Timestamp": "1795380957.060"})
    await _ingest(log_api, C2D)
    [row] = (await log_api.ok("GET", "/call_log/records_after_timestamp"
                                     "?timestamp=2026-01-01 00:00:00"))["records"]
    assert row["direction"] == "OUTGOING" and row["billsec"] == 1
    assert row["answer_timestamp"] == "2026-11-22 20:55:55"


async def test_an_instance_that_lost_the_nodes_lease_writes_cdrs_but_builds_no_rows(log_api):
    """A woken instance whose lease another took over still writes the CDRs it had queued, but
    the calls are the new holder's to build (building them raced its rows: a unique violation,
    an ERROR line in the scale-out proof). Should it read the node again, it builds them."""
    service = log_api.app[SERVICE]
    service.leading = lambda: False
    await _ingest(log_api, [_inbound(81, "5550008181", "2026-11-20 10:00:00")])
    url = "/call_log/records_after_timestamp?timestamp=2026-01-01 00:00:00"
    assert (await log_api.ok("GET", url))["count"] == 0
    assert await log_api.app[DATABASE].fetchall("SELECT 1 FROM cdrs WHERE linkedid = 'u81'")
    service.leading = lambda: True
    await service.flush(final=True)
    assert (await log_api.ok("GET", url))["count"] == 1
