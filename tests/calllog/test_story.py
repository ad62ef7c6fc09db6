"""A call's story: its stored CDRs read as the call log reads them, served per account."""

from __future__ import annotations

from callbridge.admin.routes import EXTENSIONS
from callbridge.calllog.routes import SERVICE
from callbridge.calllog.story import legs_of
from tests.calllog.test_api import _ingest
from tests.calllog.test_builder import ATXFER, INBOUND, PICKUP, _queue, cdr


def _said(legs: list[dict]) -> list[tuple]:
    return [(leg["source"]["kind"], leg["source"]["name"], leg["destination"]["kind"],
             leg["destination"]["name"], leg["reading"]) for leg in legs]


def test_a_pickup_reads_as_a_ring_replaced_and_the_pickers_talk():
    legs = legs_of(PICKUP)
    assert _said(legs) == [
        ("outside", "5557770205", "extension", "309", "replaced_by_pickup"),
        ("extension", "309", "extension", "803", "rang"),
        ("outside", "5557770205", "extension", "310", "talked")]
    assert [leg["sequence"] for leg in legs] == [0, 1, 3]


def test_an_attended_transfer_reads_as_the_transferers_consultation_then_the_targets_talk():
    legs = legs_of(ATXFER)
    said = [(leg["source"]["name"], leg["destination"]["name"], leg["reading"]) for leg in legs]
    assert ("309", "310@internal", "consulted") in said
    assert ("5557770209", "310@internal", "talked") in said  # the caller handed over
    assert ("310@internal", "310", "talked") in said         # the pair's half to 310's phone


def test_a_queue_through_local_channels_shows_the_application_and_every_member_leg():
    cdrs = _queue({"309": "NO ANSWER", "311": "ANSWERED"}, local=True)
    legs = legs_of([{**cdrs[0], "lastapp": "Queue"}, *cdrs[1:]])
    assert _said(legs) == [
        ("outside", "5551234", "application", "Queue", "answered_by_application"),
        ("outside", "5551234", "local", "309@from-queue", "rang"),
        ("local", "309@from-queue", "extension", "309", "rang"),
        ("outside", "5551234", "local", "311@from-queue", "talked"),
        ("local", "311@from-queue", "extension", "311", "talked")]


def test_a_dial_names_the_devices_it_rang():
    leg = legs_of([{**INBOUND[0], "lastapp": "Dial",
                    "lastdata": "PJSIP/309/sip:309@10.0.0.21:5060&PJSIP/309/sip:309@10.0.0.57:5062,30"}])
    assert leg[0]["devices"] == ["sip:309@10.0.0.21:5060", "sip:309@10.0.0.57:5062"]


async def test_the_story_is_served_to_the_account_with_a_row_of_the_call(api):
    ext = api.app[EXTENSIONS]
    await ext.add("acme", "309")
    await ext.add("acme", "310")
    await ext.add("globex", "320")
    await _ingest(api, PICKUP)
    story = await api.ok("GET", "/calls/P.0")
    assert story["call_id"] == "P.0" and story["node"] == "default"
    assert [leg["reading"] for leg in story["legs"]] == ["replaced_by_pickup", "rang", "talked"]
    assert [(r["cidext_inside"], r["disposition"]) for r in story["rows"]] == [("310", "ANSWERED")]
    for path, account in (("/calls/P.0", "globex"), ("/calls/nope", "acme"),
                          ("/calls/P.0?node=other", "acme")):
        status, body = await api.call("GET", path, account=account)
        assert status == 404 and body["error"] == "Call not found", (path, body)
    status, body = await api.call("GET", "/calls/P.0?node=bad%20node", account="acme")
    assert status == 400 and body["error"]


def _channel_event(event: str, at: str, uid: str, **fields: str) -> dict:
    """An AMI channel event of call H.0 at 2026-12-03 16:49:<at> UTC."""
    second = 1_796_316_540 + int(at)  # 2026-12-03 16:49:00 UTC
    return {"Event": event, "Linkedid": "H.0", "Uniqueid": uid, "Timestamp": f"{second}.000100",
            **fields}


HELD_CALL = [  # the trunk calls 309, which answers, holds twice, and hangs up while holding
    _channel_event("Newchannel", "00", "H.0", Channel="PJSIP/trunk-00000000",
                   CallerIDNum="5557770210", Exten="309"),
    _channel_event("Newchannel", "01", "H.1", Channel="PJSIP/309-00000001"),
    _channel_event("DialBegin", "01", "H.0", Channel="PJSIP/trunk-00000000",
                   DestChannel="PJSIP/309-00000001", DestUniqueid="H.1"),
    # 309's softphone rang too; its channel leaves first when the desk phone answers
    _channel_event("Newchannel", "01", "H.2", Channel="PJSIP/309-00000002"),
    _channel_event("DialBegin", "01", "H.0", Channel="PJSIP/trunk-00000000",
                   DestChannel="PJSIP/309-00000002", DestUniqueid="H.2"),
    _channel_event("DialEnd", "02", "H.0", Channel="PJSIP/trunk-00000000",
                   DestChannel="PJSIP/309-00000001", DestUniqueid="H.1", DialStatus="ANSWER"),
    _channel_event("DialEnd", "02", "H.0", Channel="PJSIP/trunk-00000000",
                   DestChannel="PJSIP/309-00000002", DestUniqueid="H.2", DialStatus="CANCEL"),
    _channel_event("HangupRequest", "02", "H.2", Channel="PJSIP/309-00000002", Cause="21"),
    _channel_event("Hangup", "02", "H.2", Channel="PJSIP/309-00000002",
                   **{"Cause-txt": "Answered elsewhere"}),
    _channel_event("Hold", "04", "H.1", Channel="PJSIP/309-00000001", MusicClass="default"),
    _channel_event("Unhold", "07", "H.1", Channel="PJSIP/309-00000001"),
    _channel_event("Hold", "09", "H.1", Channel="PJSIP/309-00000001", MusicClass="default"),
    # 309's phone hangs up (its BYE: a HangupRequest); the trunk's channel is hung up by
    # Asterisk, which raises none; the Hangups come in either order
    _channel_event("HangupRequest", "12", "H.1", Channel="PJSIP/309-00000001", Cause="16"),
    _channel_event("Hangup", "12", "H.0", Channel="PJSIP/trunk-00000000",
                   **{"Cause-txt": "Normal Clearing"}),
    _channel_event("Hangup", "12", "H.1", Channel="PJSIP/309-00000001",
                   **{"Cause-txt": "Normal Clearing"}),
]

# the CDR Asterisk writes for HELD_CALL: the trunk talked to 309 from 16:49:02 to 16:49:12
HELD_CALL_CDR = cdr(2, "5557770210", "309", "from-trunk", '"PSTN" <5557770210>',
                    "PJSIP/trunk-00000000", "PJSIP/309-00000001", "2026-12-03 16:49:00",
                    "2026-12-03 16:49:02", "2026-12-03 16:49:12", 10, "ANSWERED", "H.0", "H.0")


async def test_the_story_tells_who_held_the_call_and_who_hung_up_from_the_live_events(api):
    """Hold periods come from AMI Hold/Unhold (no CDR field records them); a party that hangs
    up while holding ends its hold then. A Hold or Unhold of a call not followed is ignored.
    Who hung up: the first party that talked whose own side hung up (HangupRequest) while the
    other was still on the call; not the softphone that only rang and declined, nor the order
    of the Hangup events."""
    await api.app[EXTENSIONS].add("acme", "309")
    service = api.app[SERVICE]
    service.calls.feed({**HELD_CALL[9], "Linkedid": "unknown", "Uniqueid": "U.1"})
    for ev in HELD_CALL:
        service.calls.feed(ev)
    await _ingest(api, [HELD_CALL_CDR])
    story = await api.ok("GET", "/calls/H.0")
    assert [(h["party"]["kind"], h["party"]["name"], h["start"], h["end"])
            for h in story["holds"]] == [
        ("extension", "309", "2026-12-03 16:49:04", "2026-12-03 16:49:07"),
        ("extension", "309", "2026-12-03 16:49:09", "2026-12-03 16:49:12")]
    assert story["holds"][0]["party"]["channel"] == "PJSIP/309-00000001"
    assert story["hung_up_first"] == {
        "party": {"kind": "extension", "name": "309", "channel": "PJSIP/309-00000001"},
        "at": "2026-12-03 16:49:12", "cause": "Normal Clearing"}
    assert await api.app[SERVICE].store.holds_of_call("default", "unknown") == []
    # the same events read twice (a second reader of the node): the periods are kept once
    for ev in HELD_CALL:
        service.calls.feed(ev)
    await service.flush(final=True)
    assert len((await api.ok("GET", "/calls/H.0"))["holds"]) == 2


async def test_an_outside_party_that_holds_and_hangs_up_is_named_by_its_number(api):
    """The trunk's side (PJSIP/trunk-…) is the outside number in holds and hung_up_first, as the
    legs name it, not the trunk endpoint's name."""
    await api.app[EXTENSIONS].add("acme", "309")
    service = api.app[SERVICE]
    trunk = {"Uniqueid": "H.0", "Channel": "PJSIP/trunk-00000000"}
    events = [{**ev, **trunk} if ev["Event"] in ("Hold", "Unhold") else ev
              for ev in HELD_CALL[:12]]
    events += [_channel_event("Unhold", "10", "H.0", **trunk),
               # the outside party hangs up first (the trunk's BYE), 309's channel follows
               _channel_event("HangupRequest", "12", "H.0", Cause="16", **trunk),
               *HELD_CALL[-2:]]
    for ev in events:
        service.calls.feed(ev)
    await _ingest(api, [HELD_CALL_CDR])
    story = await api.ok("GET", "/calls/H.0")
    outside = {"kind": "outside", "name": "5557770210", "channel": "PJSIP/trunk-00000000"}
    assert [(h["party"], h["start"], h["end"]) for h in story["holds"]] == [
        (outside, "2026-12-03 16:49:04", "2026-12-03 16:49:07"),
        (outside, "2026-12-03 16:49:09", "2026-12-03 16:49:10")]
    assert story["hung_up_first"] == {"party": outside, "at": "2026-12-03 16:49:12",
                                      "cause": "Normal Clearing"}
