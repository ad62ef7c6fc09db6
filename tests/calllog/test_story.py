"""A call's story: its stored CDRs read as the call log reads them, served per account."""

from __future__ import annotations

from callbridge.admin.routes import EXTENSIONS
from callbridge.calllog.story import legs_of
from tests.calllog.test_api import _ingest
from tests.calllog.test_builder import ATXFER, INBOUND, PICKUP, _queue


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
