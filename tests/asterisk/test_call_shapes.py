"""The call shapes of a real PBX on the bench: queues (app_queue, ringall) with the members as
endpoints and, as FreePBX makes them, as Local channels: the member that answers gets the row
and its events, the member that only rang gets its card closed (call.taken) and no missed call;
a call nobody takes is a missed call for every member. Voicemail after no answer; a directed
pickup."""

from __future__ import annotations

import asyncio
import calendar
import os
import signal
import time
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple

import aiohttp
import pytest

from tests.asterisk.ami_client import ami
from tests.asterisk.conftest import QUEUES, ami_url, callbridge_on
from tests.asterisk.pbx import free_port
from tests.asterisk.test_calllog import _rows, _since
from tests.asterisk.test_events import collect, more_within, of
from tests.asterisk.test_scaleout import Instance, _cli, _until
from tests.pg import created_database


class Shape(NamedTuple):
    """What each shape's test starts from (see _ada_calling)."""
    api: Any          # callbridge_on's client, acme's key in api.keys
    manager: Any      # the test's own AMI connection (panoramisk)
    amilog: Any       # the events that connection saw
    since: str        # the call log's timestamp from before the call
    headers: dict     # acme's key, for the /events sockets


@asynccontextmanager
async def _ada_calling(pbx, tmp_path, number: str):
    """callbridge on the bench with Ada Lovelace at `number` among acme's contacts (every shape
    checks her name on cards and rows), the test's own AMI connection to act as a phone's keys
    would, and 309's two standard devices reachable."""
    async with callbridge_on(pbx, tmp_path / "cb.db") as api, ami(pbx) as (manager, amilog):
        await api.ok("POST", "/contacts/contacts", json={
            "firstname": "Ada", "lastname": "Lovelace", "mobile_phone": number})
        since = _since()
        await asyncio.to_thread(pbx.wait_devices, "309", 2)
        yield Shape(api, manager, amilog, since, {"x-api-key": api.keys["acme"]})


@pytest.mark.parametrize("members", ["direct", "local", "freepbx"])
async def test_a_queue_call_taken_by_one_member_is_its_row_and_closes_the_others_card(
        queue_pbx, tmp_path, members):
    """A ringall queue whose members are endpoints, Local channels into [extensions], or
    FreePBX's Local/<ext>@from-queue/n: 310 answers; its row, 309's card closes (call.taken)."""
    pbx, (number, _) = queue_pbx, QUEUES[members]
    caller = {"direct": "5557770201", "local": "5557770202", "freepbx": "5557770213"}[members]
    async with _ada_calling(pbx, tmp_path, caller) as (api, _, _, since, h):
        async with api.client.ws_connect("/events?types=call.*&extension=309", headers=h) as at309, \
                api.client.ws_connect("/events?types=call.*&extension=310", headers=h) as at310:
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, number,
                                                         talk_ms=1500))
            got310 = await collect(at310, lambda got: of(got, "call.answered", caller))
            answered_here = time.monotonic()
            got309 = await collect(at309, lambda got: of(got, "call.taken", caller))
            taken_there = time.monotonic()
            assert await call == 0
            got310 += await collect(at310, lambda got: of(got310 + got, "call.ended", caller))
            # anything more for 309 (a call.missed would be wrong) within 1.5 s
            got309 += await more_within(at309, 1.5)
        [ringing309] = of(got309, "call.ringing", caller)
        [taken] = of(got309, "call.taken", caller)
        assert taken["taken_by"] == "310" and taken["call_id"] == ringing309["call_id"]
        assert taken_there - answered_here < 1.0
        assert of(got309, "call.answered", caller) == of(got309, "call.missed", caller) == []
        assert of(got309, "call.ended", caller) == []
        [ringing310] = of(got310, "call.ringing", caller)
        assert ringing310["contact"]["name"] == "Ada Lovelace" and ringing310["called"] == number
        [ended] = of(got310, "call.ended", caller)
        assert (ended["extension"], ended["disposition"]) == ("310", "ANSWERED")
        assert of(got310, "call.taken", caller) == []
        rows = await _rows(api, since, timeout=20.0, expect=1, settle=1.5, number=caller)
        assert [(r["cidext_inside"], r["direction"], r["disposition"]) for r in rows] == [
            ("310", "INCOMING", "ANSWERED")], rows
        [row] = rows
        assert row["cidname_outside"] == "Ada Lovelace" and row["billsec"] >= 1
        assert row["linkedid"] == ringing310["call_id"] == ended["call_id"]
        # the call's story: 309's leg rang, 310's talked (through a Local pair, when members are)
        story = await api.ok("GET", f"/calls/{row['linkedid']}")
        to_phones = {(leg["destination"]["name"], leg["reading"]) for leg in story["legs"]
                     if leg["destination"]["kind"] == "extension"}
        assert ("309", "rang") in to_phones and ("310", "talked") in to_phones, story["legs"]
        assert any(leg["source"]["kind"] == "local" for leg in story["legs"]) == (
            members != "direct")
        assert [r["rid"] for r in story["rows"]] == [row["rid"]]


async def test_a_queue_call_nobody_takes_is_a_missed_call_for_every_member(queue_pbx, tmp_path):
    pbx, caller = queue_pbx, "5557770203"
    async with callbridge_on(pbx, tmp_path / "cb.db") as api:
        since, h = _since(), {"x-api-key": api.keys["acme"]}
        async with api.client.ws_connect("/events?types=call.*", headers=h) as ws:
            # the caller gives up 0.2 s after it hears ringing: before 310 (0.8 s) answers
            code = await asyncio.to_thread(pbx.call_in, caller, "700", cancel_after_ms=200)
            assert code == 0
            got = await collect(ws, lambda got: len(of(got, "call.missed", caller)) == 2)
        assert sorted(m["extension"] for m in of(got, "call.missed", caller)) == ["309", "310"]
        assert of(got, "call.taken", caller) == of(got, "call.answered", caller) == []
        rows = await _rows(api, since, timeout=20.0, expect=2, settle=1.5, number=caller)
        assert sorted((r["cidext_inside"], r["disposition"]) for r in rows) == [
            ("309", "NO ANSWER"), ("310", "NO ANSWER")]


async def test_a_call_sent_to_voicemail_after_ringing_is_a_missed_call(running_pbx, tmp_path):
    """After no answer, an application answers (VoiceMail(); here Answer() and Wait(), the same
    CDRs): the extension's NO ANSWER row and call.missed, the application's answer credited to
    nobody."""
    pbx, caller = running_pbx, "5557770204"
    # 309's devices answer after 1.5 s and 10 s: a 1 s Dial times out, then "voicemail"
    pbx.cli("dialplan add extension 702,1,Dial(${PJSIP_DIAL_CONTACTS(309)},1) into from-trunk"
            " replace")
    pbx.cli("dialplan add extension 702,2,Answer() into from-trunk")
    pbx.cli("dialplan add extension 702,3,Wait(3) into from-trunk")
    pbx.cli("dialplan add extension 702,4,Hangup() into from-trunk")
    async with callbridge_on(pbx, tmp_path / "cb.db") as api:
        since, h = _since(), {"x-api-key": api.keys["acme"]}
        async with api.client.ws_connect("/events?types=call.*", headers=h) as ws:
            await asyncio.to_thread(pbx.wait_devices, "309", 2)
            assert await asyncio.to_thread(pbx.call_in, caller, "702", talk_ms=500) == 0
            got = await collect(ws, lambda got: of(got, "call.missed", caller))
        [missed] = of(got, "call.missed", caller)
        assert (missed["extension"], missed["disposition"]) == ("309", "NO ANSWER")
        assert of(got, "call.answered", caller) == []
        [row] = await _rows(api, since, timeout=20.0, expect=1, settle=1.5, number=caller)
        assert (row["cidext_inside"], row["direction"], row["disposition"]) == (
            "309", "INCOMING", "NO ANSWER")


async def test_a_forward_on_no_answer_is_the_answering_extensions_call_not_a_missed_one(
        queue_pbx, tmp_path):
    """309 rings for 1 s, nobody answers, the dialplan forwards to 310, whose desk answers: one
    INCOMING ANSWERED row, 310's, named; 309 neither answered nor missed (answered elsewhere):
    no row, no call.missed, and its card closed by call.taken naming 310."""
    pbx, caller = queue_pbx, "5557770214"
    pbx.cli("dialplan add extension 706,1,Dial(${PJSIP_DIAL_CONTACTS(309)},1) into from-trunk"
            " replace")
    pbx.cli("dialplan add extension 706,2,Dial(${PJSIP_DIAL_CONTACTS(310)},20) into from-trunk")
    pbx.cli("dialplan add extension 706,3,Hangup() into from-trunk")
    async with _ada_calling(pbx, tmp_path, caller) as (api, _, _, since, h):
        async with api.client.ws_connect("/events?types=call.*&extension=309", headers=h) as at309, \
                api.client.ws_connect("/events?types=call.*&extension=310", headers=h) as at310:
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, "706",
                                                         talk_ms=1500))
            got310 = await collect(at310, lambda got: of(got, "call.answered", caller), timeout=20)
            got309 = await collect(at309, lambda got: of(got, "call.taken", caller), timeout=5)
            assert await call == 0
            got310 += await collect(at310, lambda got: of(got310 + got, "call.ended", caller))
            # anything more for 309 (a call.missed would be wrong) within 1.5 s
            got309 += await more_within(at309, 1.5)
        [taken] = of(got309, "call.taken", caller)
        assert taken["taken_by"] == "310"
        assert of(got309, "call.missed", caller) == of(got309, "call.ended", caller) == []
        [ended] = of(got310, "call.ended", caller)
        assert (ended["disposition"], ended["name"]) == ("ANSWERED", "Ada Lovelace")
        rows = await _rows(api, since, timeout=20.0, expect=1, settle=1.5, number=caller)
        assert [(r["cidext_inside"], r["direction"], r["disposition"], r["cidname_outside"])
                for r in rows] == [("310", "INCOMING", "ANSWERED", "Ada Lovelace")], rows


async def test_a_directed_pickup_is_the_pickers_answered_call_and_not_the_ringing_ones(
        queue_pbx, tmp_path):
    """309's softphone rings (it answers after 10 s); 310 picks the call up (PickupChan(), what
    a pickup code like **309 runs on 310's channel). 310 answered: its row, its call.answered and
    call.ended; 309 neither answered nor missed: call.taken (picked_up) closes its card."""
    pbx, caller = queue_pbx, "5557770205"
    soft = pbx.phones["soft309"].port
    pbx.cli(f"dialplan add extension 703,1,Dial(PJSIP/309/sip:309@127.0.0.1:{soft},30) into"
            " from-trunk replace")
    pbx.cli("dialplan add extension 803,1,PickupChan(PJSIP/309) into from-trunk replace")
    async with _ada_calling(pbx, tmp_path, caller) as (api, manager, _, since, h):
        async with api.client.ws_connect("/events?types=call.*&extension=309", headers=h) as at309, \
                api.client.ws_connect("/events?types=call.*&extension=310", headers=h) as at310:
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, "703",
                                                         talk_ms=1500))
            got309 = await collect(at309, lambda got: of(got, "call.ringing", caller))
            await manager.send_action({"Action": "Originate", "Channel": "PJSIP/310",
                                       "Context": "from-trunk", "Exten": "803", "Priority": "1",
                                       "Async": "true"})
            got309 += await collect(at309, lambda got: of(got309 + got, "call.taken", caller))
            assert await call == 0
            call_id = of(got309, "call.ringing", caller)[0]["call_id"]
            got310 = await collect(at310, lambda got: any(
                e["type"] == "call.ended" and e["data"]["call_id"] == call_id for e in got))
            # anything more for 309 (a call.missed would be wrong) within 1.5 s
            got309 += await more_within(at309, 1.5)
        [taken] = of(got309, "call.taken", caller)
        assert (taken["taken_by"], taken["reason"]) == ("310", "picked_up")
        assert of(got309, "call.answered", caller) == of(got309, "call.missed", caller) == []
        mine = [e for e in got310 if e["data"]["call_id"] == call_id]
        assert [e["type"] for e in mine] == ["call.answered", "call.ended"]
        assert (mine[1]["data"]["disposition"], mine[1]["data"]["name"]) == (
            "ANSWERED", "Ada Lovelace")
        rows = await _rows(api, since, timeout=20.0, expect=1, settle=1.5, number=caller)
        assert [(r["cidext_inside"], r["direction"], r["disposition"]) for r in rows] == [
            ("310", "INCOMING", "ANSWERED")], rows
        story = await api.ok("GET", f"/calls/{call_id}")
        said = [(leg["destination"]["name"], leg["reading"]) for leg in story["legs"]
                if leg["source"]["kind"] == "outside"]
        assert said in ([("309", "rang"), ("310", "talked")],
                        [("309", "replaced_by_pickup"), ("310", "talked")]), story["legs"]


async def test_an_outbound_call_the_far_end_transfers_keeps_the_number_dialled(queue_pbx,
                                                                              tmp_path):
    """309 dials 5557770206 from its phone; the far end answers and transfers the call to 310
    (SIP REFER). Asterisk rewrites the leg's dst to 310; 309's OUTGOING row keeps the number it
    dialled, named from contacts."""
    pbx, number = queue_pbx, "5557770206"
    await asyncio.to_thread(pbx.transferring_trunk, "310", answer_ms=300, refer_ms=1000)
    try:
        async with _ada_calling(pbx, tmp_path, number) as (api, manager, _, since, h):
            async with api.client.ws_connect("/events?types=call.answered&extension=310",
                                             headers=h) as at310:
                # what 309 dialling out from its phone is to Asterisk: 309's channel dials the
                # number from the phones' context (its desk phone answers the Originate first)
                await manager.send_action({"Action": "Originate", "Channel": "PJSIP/309",
                                           "Context": "internal", "Exten": number,
                                           "Priority": "1", "Async": "true", "Timeout": "20000"})
                await collect(at310, lambda got: got, timeout=30)  # transferred: 310 answered
            await manager.send_action({"Action": "Hangup", "Channel": "/^PJSIP\\/310-/"})
            rows = await _rows(api, since, timeout=20.0, expect=1, settle=1.5, number=number)
        outgoing = [r for r in rows if r["cidext_inside"] == "309"]
        assert [(r["direction"], r["disposition"]) for r in outgoing] == [
            ("OUTGOING", "ANSWERED")], rows
        assert outgoing[0]["cidname_outside"] == "Ada Lovelace"
    finally:
        await asyncio.to_thread(pbx.restore_trunk)


async def _rows_across_a_kill(pbx, tmp_path, caller: str, call) -> list[dict]:
    """callbridge as its own process; `call(kill)` places a call and kills callbridge with
    SIGKILL (awaiting kill()) midway, and returns once the call is over, callbridge still down.
    Returns the rows callbridge has for the caller after a restart (read back from Master.csv)."""
    database = created_database(tmp_path, "killed.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env.update({"CALLBRIDGE_DATABASE": database, "CALLBRIDGE_AMI": f"default={ami_url(pbx)}",
                "CALLBRIDGE_CDR_CSV": str(pbx.master_csv),
                "CALLBRIDGE_CALLERID_TOKEN": pbx.callerid_token,
                "CALLBRIDGE_AMI_PING_INTERVAL": "0.5", "CALLBRIDGE_LOG_LEVEL": "WARNING"})
    key = _cli(env, "keys", "create", "--account", "acme").strip().splitlines()[-1]
    for ext in ("309", "310"):
        _cli(env, "extensions", "add", "--account", "acme", ext)
    port, log = free_port(), tmp_path / "serve.log"
    base, h = f"http://127.0.0.1:{port}", {"x-api-key": key}

    async def online(s: aiohttp.ClientSession) -> bool:
        try:
            async with s.get(base + "/health") as r:
                return (await r.json()).get("pbx") == "online"
        except (aiohttp.ClientError, OSError):
            return False

    async with aiohttp.ClientSession() as s:
        first = Instance("first", env, port, log)
        try:
            await _until("callbridge online", lambda: online(s), 30)
            since = _since()

            async def kill() -> None:
                first.proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(first.proc.wait, 10)
            await call(kill)
            assert first.proc.poll() is not None, "the call never killed callbridge"
        finally:
            if first.proc.poll() is None:
                first.proc.kill()
        second = Instance("second", env, port, log)
        try:
            await _until("callbridge online again", lambda: online(s), 30)

            async def rows() -> list[dict]:
                async with s.get(base + "/call_log/records_after_timestamp",
                                 params={"timestamp": since, "number": caller}, headers=h) as r:
                    return (await r.json())["records"]
            await _until("the call's rows", rows, 30)
            await asyncio.sleep(1.5)  # a row too many would show up now
            return await rows()
        finally:
            second.proc.send_signal(signal.SIGTERM)
            second.proc.wait(20)


async def test_callbridge_killed_mid_queue_call_writes_the_same_rows_after_restart(queue_pbx,
                                                                                 tmp_path):
    """callbridge (its own process) is killed with SIGKILL while a queue call through Local
    members is up; the call ends while it is down. After the restart the call has exactly the
    rows it would have had: one, 310's ANSWERED, nothing for 309 (read back from Master.csv)."""
    pbx, caller = queue_pbx, "5557770207"

    async def queue_call(kill) -> None:
        call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, "701", talk_ms=3000))
        await asyncio.sleep(1.5)  # 310 answered (0.8 s after it rang); the call is up
        await kill()
        assert await call == 0  # the call ends while callbridge is down
    got = await _rows_across_a_kill(pbx, tmp_path, caller, queue_call)
    assert [(r["cidext_inside"], r["direction"], r["disposition"]) for r in got] == [
        ("310", "INCOMING", "ANSWERED")], got


async def test_callbridge_killed_mid_attended_transfer_writes_the_same_rows_after_restart(
        queue_pbx, tmp_path):
    """Killed with SIGKILL during an attended transfer's consultation (309 talking to 310, the
    caller waiting); 309 hands over and the call ends while callbridge is down. After the
    restart: the rows the transfer test sees live, 309's and 310's, both with the caller."""
    pbx, caller = queue_pbx, "5557770210"

    async def transferred_call(kill) -> None:
        await asyncio.to_thread(pbx.wait_devices, "309", 2)
        async with ami(pbx) as (manager, log):
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, "309",
                                                         talk_ms=8_000))
            await log.wait_for(lambda log: [
                e for e in log.matching(Event="DialEnd", DialStatus="ANSWER")
                if e.get("DestChannel", "").startswith("PJSIP/309-")],
                20, "309 answering")
            desk = _up_channel(pbx, "309")
            await _atxfer(manager, desk, "310")
            await log.wait_for(lambda log: [
                e for e in log.matching(Event="DialEnd", DialStatus="ANSWER")
                if e.get("DestChannel", "").startswith("PJSIP/310-")],
                20, "310 answering the consultation")
            await kill()
            await asyncio.sleep(0.5)
            await manager.send_action({"Action": "Hangup", "Channel": desk})
            assert await call == 0
    got = await _rows_across_a_kill(pbx, tmp_path, caller, transferred_call)
    assert sorted((r["cidext_inside"], r["direction"], r["disposition"], r["cidname_outside"])
                  for r in got) == [("309", "INCOMING", "ANSWERED", "PSTN 5557770210"),
                                    ("310", "INCOMING", "ANSWERED", "PSTN 5557770210")], got


async def test_a_blind_transfer_gives_each_party_its_row_and_the_target_the_original_caller(
        queue_pbx, tmp_path):
    """An inbound call answered by a phone of 309 that transfers it to 310 (SIP REFER from the
    phone: its transfer key). 309 talked: its ANSWERED row, and its call.ended within 2 s of
    leaving while the caller still talks to 310; 310 talked to the original caller: its ANSWERED
    row with the caller's number and contact, and a card that pops with them. At the call's end
    the CDRs confirm 309's early row: no second row or call.ended for it."""
    pbx, caller = queue_pbx, "5557770208"
    phone = await asyncio.to_thread(pbx.start_transferring_phone, "refer309", "310",
                                    answer_ms=300, refer_ms=1000, register_as="309")
    pbx.cli(f"dialplan add extension 704,1,Dial(PJSIP/309/sip:309@127.0.0.1:{phone.port},30)"
            " into from-trunk replace")
    try:
        async with _ada_calling(pbx, tmp_path, caller) as (api, manager, _, since, h):
            async with api.client.ws_connect("/events?types=call.*&extension=310",
                                             headers=h) as at310, \
                    api.client.ws_connect("/events?types=call.*&extension=309",
                                          headers=h) as at309:
                call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, "704",
                                                             talk_ms=20_000))
                got = await collect(at310, lambda got: any(e["type"] == "call.answered"
                                                           for e in got), timeout=30)
                # 309 left when it transferred: its row comes while the caller talks to 310
                early = await collect(at309, lambda got: of(got, "call.ended", caller), timeout=5)
                arrived = time.time()
                assert not call.done()
                [ended309] = of(early, "call.ended", caller)
                # when 309 left: its row's start and duration (whole seconds of each)
                left_at = calendar.timegm(time.strptime(ended309["call_timestamp"],
                                                        "%Y-%m-%d %H:%M:%S")) + ended309["duration"]
                assert arrived - left_at < 3.0, (arrived, left_at)  # 2 s, and the rounding
                assert (ended309["disposition"], ended309["name"]) == ("ANSWERED", "Ada Lovelace")
                await manager.send_action({"Action": "Hangup", "Channel": "/^PJSIP\\/310-/"})
                await call
            [ringing] = [e["data"] for e in got if e["type"] == "call.ringing"]
            assert (ringing["caller"], ringing["number"]) == (caller, caller)
            assert ringing["contact"]["name"] == "Ada Lovelace"
            rows = await _rows(api, since, timeout=20.0, expect=2, settle=1.5, number=caller)
        assert sorted((r["cidext_inside"], r["direction"], r["disposition"],
                       r["cidname_outside"]) for r in rows) == [
            ("309", "INCOMING", "ANSWERED", "Ada Lovelace"),
            ("310", "INCOMING", "ANSWERED", "Ada Lovelace")], rows
        assert len({r["linkedid"] for r in rows}) == 1
        by_ext = {r["cidext_inside"]: r for r in rows}
        assert by_ext["309"]["rid"] == ended309["rid"]  # the early row stood
    finally:
        await asyncio.to_thread(pbx.unregister, "refer309", "309")


async def test_a_call_put_on_hold_at_the_phone_shows_the_hold_in_its_story(queue_pbx, tmp_path):
    """309's phone answers, presses hold 1 s later for 2 s (a sendonly re-INVITE, then
    sendrecv): the call's story has the hold, by 309, about 2 s long, and says the caller hung
    up; the row is 309's ANSWERED call as without the hold."""
    pbx, caller = queue_pbx, "5557770214"
    phone = await asyncio.to_thread(pbx.start_holding_phone, "hold309", answer_ms=300,
                                    hold_at_ms=1000, hold_ms=2000, register_as="309")
    pbx.cli(f"dialplan add extension 708,1,Dial(PJSIP/309/sip:309@127.0.0.1:{phone.port},30)"
            " into from-trunk replace")
    try:
        async with _ada_calling(pbx, tmp_path, caller) as (api, _, amilog, since, _h):
            assert await asyncio.to_thread(pbx.call_in, caller, "708", talk_ms=5000) == 0
            [row] = await _rows(api, since, timeout=20.0, expect=1, settle=1.5, number=caller)
            assert (row["cidext_inside"], row["disposition"], row["cidname_outside"]) == (
                "309", "ANSWERED", "Ada Lovelace")
            story = await api.ok("GET", f"/calls/{row['linkedid']}")
        [hold] = story["holds"]
        assert (hold["party"]["kind"], hold["party"]["name"]) == ("extension", "309"), (
            story, [e for e in amilog.events if e.get("Event") in ("Hold", "Unhold")])
        held = (datetime.fromisoformat(hold["end"]) - datetime.fromisoformat(hold["start"]))
        assert 1 <= held.total_seconds() <= 3, hold  # 2 s, in whole seconds
        assert row["answer_timestamp"] <= hold["start"] < hold["end"] <= row["end_timestamp"]
        # the caller hung up (uac_inbound's BYE after talking 5 s)
        hung_up = story["hung_up_first"]
        assert (hung_up["party"]["kind"], hung_up["cause"]) == ("outside", "Normal Clearing"), (
            hung_up)
        ended = datetime.fromisoformat(row["end_timestamp"])
        assert abs((datetime.fromisoformat(hung_up["at"]) - ended).total_seconds()) <= 1, hung_up
    finally:
        await asyncio.to_thread(pbx.unregister, "hold309", "309")


def _up_channel(pbx, endpoint: str) -> str:
    """The channel up of an endpoint: the device of an extension that answered, the trunk."""
    channels = pbx.cli("core show channels concise")
    [up] = [line.split("!")[0] for line in channels.splitlines()
            if line.startswith(f"PJSIP/{endpoint}-") and "!Up!" in line]
    return up


async def _atxfer(manager, channel: str, target: str) -> None:
    """An attended transfer of the call `channel` is in to `target` (AMI Atxfer). Async false:
    panoramisk reads the answer "… successfully queued" as the first of several unless the
    action says Async false (without the header: a KeyError that drops the connection)."""
    reply = await manager.send_action({"Action": "Atxfer", "Channel": channel, "Exten": target,
                                       "Context": "internal", "Async": "false"})
    assert reply.get("Response") == "Success", reply


async def test_an_attended_transfer_gives_the_target_a_row_and_the_original_caller(
        queue_pbx, tmp_path):
    """An inbound call to 309, answered at its desk phone; 309 starts an attended transfer to
    310 (AMI Atxfer: the `atxfer` code of features.conf, as a receptionist's app would), talks
    to 310, hangs up: the transfer completes and the caller talks to 310. 310's card shows the
    caller from its ringing on; both get call.transferred; each has its ANSWERED row with the
    caller's contact (310 had none: the caller's leg went through the Local pair the transfer
    dialled), and the story shows 309's consultation."""
    pbx, caller = queue_pbx, "5557770209"
    async with _ada_calling(pbx, tmp_path, caller) as (api, manager, amilog, since, h):
        async with api.client.ws_connect("/events?types=call.*&extension=309", headers=h) as at309, \
                api.client.ws_connect("/events?types=call.*&extension=310", headers=h) as at310:
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, "309",
                                                         talk_ms=10_000))
            got309 = await collect(at309, lambda got: of(got, "call.answered", caller))
            call_id = of(got309, "call.answered", caller)[0]["call_id"]
            desk = _up_channel(pbx, "309")
            await _atxfer(manager, desk, "310")
            got310 = await collect(at310, lambda got: any(
                e["type"] == "call.answered" and e["data"]["call_id"] == call_id for e in got),
                timeout=20)
            await asyncio.sleep(1.0)  # 309 and 310 talk; 309 hangs up: the transfer completes
            await manager.send_action({"Action": "Hangup", "Channel": desk})
            got309 += await collect(at309, lambda got: of(got309 + got, "call.transferred",
                                                          caller))
            [told309] = of(got309, "call.transferred", caller)
            assert told309["to"] == "310", [e for e in amilog.events
                                            if e.get("Event") == "AttendedTransfer"]
            got310 += await collect(at310, lambda got: any(
                e["type"] == "call.transferred" for e in got), timeout=5)
            assert await call == 0
            ended = lambda got: any(e["type"] == "call.ended"  # noqa: E731
                                    and e["data"]["call_id"] == call_id for e in got)
            got309 += await collect(at309, lambda got: ended(got309 + got), timeout=20)
            got310 += await collect(at310, lambda got: ended(got310 + got), timeout=20)
        mine310 = [e for e in got310 if e["data"]["call_id"] == call_id]
        assert [e["type"] for e in mine310] == [
            "call.ringing", "call.answered", "call.transferred", "call.ended"], mine310
        ringing, _, moved, ended310 = (e["data"] for e in mine310)
        assert (ringing["number"], ringing["contact"]["name"]) == (caller, "Ada Lovelace")
        assert (moved["transferred_by"], moved["to"], moved["kind"], moved["number"],
                moved["contact"]["name"]) == ("309", "310", "attended", caller, "Ada Lovelace")
        assert (ended310["disposition"], ended310["name"]) == ("ANSWERED", "Ada Lovelace")
        assert [e["type"] for e in got309 if e["data"]["call_id"] == call_id] == [
            "call.ringing", "call.answered", "call.transferred", "call.ended"]
        rows = await _rows(api, since, timeout=20.0, expect=2, settle=1.5, number=caller)
        assert sorted((r["cidext_inside"], r["direction"], r["disposition"],
                       r["cidname_outside"]) for r in rows) == [
            ("309", "INCOMING", "ANSWERED", "Ada Lovelace"),
            ("310", "INCOMING", "ANSWERED", "Ada Lovelace")], rows
        by_ext = {r["cidext_inside"]: r for r in rows}
        # 309 left when it handed the call over; 310 stayed to the end
        assert by_ext["309"]["end_timestamp"] < by_ext["310"]["end_timestamp"]
        story = await api.ok("GET", f"/calls/{call_id}")
        readings = [(leg["source"]["name"], leg["reading"]) for leg in story["legs"]]
        assert ("309", "consulted") in readings, story["legs"]


async def test_a_parked_call_retrieved_at_another_extension_is_its_incoming_call(queue_pbx,
                                                                                 tmp_path):
    """309 answers, talks, parks the caller (AMI Park: what the parkcall code or a
    receptionist's app does); 310 retrieves it from its place (dials 801, res_parking.conf).
    309 talked: its ANSWERED row; 310 talked with the caller: its INCOMING row, named, and its
    call.ended; the lot answering the call is nobody's (the story's Park leg); nobody missed
    it."""
    pbx, caller = queue_pbx, "5557770211"
    async with _ada_calling(pbx, tmp_path, caller) as (api, manager, amilog, since, h):
        async with api.client.ws_connect("/events?types=call.*", headers=h) as ws:
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, caller, "309",
                                                         talk_ms=8_000))
            got = await collect(ws, lambda got: of(got, "call.answered", caller))
            call_id = of(got, "call.answered", caller)[0]["call_id"]
            desk = _up_channel(pbx, "309")
            await asyncio.sleep(1.5)  # they talk (a park within the answer's second would read
            #                           as a pickup of a phone that only rang: docs/call-log.md)
            reply = await manager.send_action({"Action": "Park", "Channel": _up_channel(
                pbx, "trunk"), "TimeoutChannel": desk})
            assert reply.get("Response") == "Success", reply
            [parked] = await amilog.wait_for(lambda log: log.matching(Event="ParkedCall"), 10,
                                             "the call parked")
            await manager.send_action({"Action": "Originate", "Channel": "PJSIP/310",
                                       "Context": "internal", "Exten": parked["ParkingSpace"],
                                       "Priority": "1", "Async": "true"})
            assert await call == 0
            got += await collect(ws, lambda more: len(of(got + more, "call.ended", caller)) == 2,
                                 timeout=20)
        ended = {e["extension"]: e for e in of(got, "call.ended", caller)}
        assert {x: (e["disposition"], e["name"]) for x, e in ended.items()} == {
            "309": ("ANSWERED", "Ada Lovelace"), "310": ("ANSWERED", "Ada Lovelace")}
        assert of(got, "call.missed", caller) == []
        rows = await _rows(api, since, timeout=20.0, expect=2, settle=1.5, number=caller)
        assert sorted((r["cidext_inside"], r["direction"], r["disposition"],
                       r["cidname_outside"]) for r in rows) == [
            ("309", "INCOMING", "ANSWERED", "Ada Lovelace"),
            ("310", "INCOMING", "ANSWERED", "Ada Lovelace")], rows
        assert {r["linkedid"] for r in rows} == {call_id}
        story = await api.ok("GET", f"/calls/{call_id}")
        # the lot held the caller; 310 dialled the lot's place (ParkedCall) to take it back
        assert [(leg["source"]["name"], leg["application"], leg["reading"])
                for leg in story["legs"] if leg["destination"]["kind"] == "application"] == [
            (caller, "Park", "answered_by_application"),
            ("310", "ParkedCall", "answered_by_application")], story["legs"]
