"""POST /dialer/call on the real bench: ring-all, progress, no devices, outages, no double dial."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from callbridge.admin.routes import EXTENSIONS
from callbridge.app import AMI_LINK
from callbridge.dialer.routes import SERVICE as DIALER
from callbridge.events.routes import SERVICE as EVENTS
from tests.asterisk.ami_client import ami
from tests.asterisk.conftest import wait_until
from tests.asterisk.pbx import stop_process
from tests.conftest import eventually

DIAL = {"extension": "309", "phonenumber": "1 (580) 867-5309"}


async def _wait_state(api, call_id, state, timeout=20.0):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = await api.ok("GET", f"/dialer/calls/{call_id}")
        if body["state"] == state:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"call never reached {state}: {body}")


async def test_click_to_dial_rings_every_device_then_the_number(dialer_api, running_pbx):
    pbx, api = running_pbx, dialer_api
    await api.ok("POST", "/contacts/contacts", json={"firstname": "Jenny", "lastname": "Tutone",
                                                     "mobile_phone": "+1 580 867 5309"})
    desk, soft, trunk = (pbx.phones[n] for n in ("desk309", "soft309", "trunk"))
    before = {p.name: len(p.invites()) for p in (desk, soft, trunk)}

    status, body = await api.call("POST", "/dialer/call", json=DIAL)
    assert status == 200 and body["status"] == "200" and body["message"] == "Success", body
    call_id = body["call_id"]

    wait_until(lambda: len(desk.invites()) > before["desk309"] and len(soft.invites()) > before["soft309"],
               5, "both devices of 309 ringing")
    # the devices show who is about to be called: the contact's name
    assert "Jenny Tutone" in desk.invites()[-1] and "Jenny Tutone" in soft.invites()[-1]
    wait_until(lambda: len(trunk.invites()) > before["trunk"], 10, "the trunk receiving the call")
    assert "15808675309" in trunk.invites()[-1]

    done = await _wait_state(api, call_id, "ended")
    assert set(done["timestamps"]) == {"queued", "ringing", "answered", "connected", "ended"}
    assert done["device"].startswith("PJSIP/309") and done["failure_reason"] is None
    # another account can't see the call
    assert (await api.call("GET", f"/dialer/calls/{call_id}", account="globex"))[0] == 404


async def test_no_devices_is_409_and_sends_no_originate(dialer_api, running_pbx):
    async with ami(running_pbx) as (_, events):
        status, body = await dialer_api.call("POST", "/dialer/call",
                                             json={"extension": "310", "phonenumber": "15808675309"})
        assert status == 409 and body["message"] == "no devices", body
        await asyncio.sleep(0.5)
        assert not [e for e in events.matching(Event="Newchannel")
                    if e.get("Channel", "").startswith("Local/310@")]


async def test_other_accounts_extension_is_400(dialer_api):
    status, body = await dialer_api.call("POST", "/dialer/call", account="globex", json=DIAL)
    assert status == 400 and body["message"] == "invalid extension"


async def test_asterisk_down_is_503_fast_and_dialing_resumes_when_it_returns(dialer_api, running_pbx):
    pbx, api = running_pbx, dialer_api
    link = api.app[AMI_LINK]
    pbx.stop()
    t0 = time.monotonic()
    status, body = await api.call("POST", "/dialer/call", json=DIAL)
    assert status == 503 and body["error"] == "Dialer service unavailable", (body, link.status())
    assert time.monotonic() - t0 < 1.0
    status_body = await api.ok("GET", "/status")
    assert status_body["services"]["dialer"]["status"] == "offline"

    await asyncio.to_thread(pbx.start)
    await asyncio.to_thread(pbx.wait_devices, "309", 2)
    assert await link.wait_online(10), link.status()
    trunk = pbx.phones["trunk"]
    before = len(trunk.invites())
    status, body = await api.call("POST", "/dialer/call", json=DIAL)
    assert status == 200, body
    await asyncio.to_thread(wait_until, lambda: len(trunk.invites()) > before, 15, "the call after restart")
    await _wait_state(api, body["call_id"], "ended")


async def test_link_lost_during_originate_fails_the_request_and_never_redials(dialer_api, running_pbx,
                                                                              monkeypatch):
    pbx, api = running_pbx, dialer_api
    link = api.app[AMI_LINK]
    real_getvar = link.getvar

    async def getvar_then_freeze(variable):
        value = await real_getvar(variable)
        os.kill(pbx.proc.pid, signal.SIGSTOP)  # Asterisk will receive the Originate but not answer
        return value

    monkeypatch.setattr(link, "getvar", getvar_then_freeze)
    phones = [pbx.phones[n] for n in ("desk309", "soft309", "trunk")]
    before = [len(p.invites()) for p in phones]
    request = asyncio.ensure_future(api.call("POST", "/dialer/call", json=DIAL))
    await asyncio.sleep(0.5)
    assert not request.done()
    pbx.kill()  # SIGKILL works on a stopped process: the socket drops with the Originate unanswered
    status, body = await asyncio.wait_for(request, 5)
    assert status == 503 and "not be re-sent" in body["message"], body
    monkeypatch.setattr(link, "getvar", real_getvar)

    await asyncio.to_thread(pbx.start)
    assert await link.wait_online(10), link.status()
    await asyncio.sleep(3)  # time enough for a re-sent Originate to ring something
    assert [len(p.invites()) for p in phones] == before
    assert "0 active calls" in pbx.cli("core show channels count")


async def test_the_extensions_mobile_rings_through_the_trunk_then_the_number(dialer_api, running_pbx):
    """311 has no SIP device at all, only a mobile: the mobile counts as a device (no 409), is
    rung over the trunk, and once it answers the number is dialled."""

    api, trunk = dialer_api, running_pbx.phones["trunk"]
    await api.app[EXTENSIONS].add(
        "acme", "311", mobile="+1 (555) 999-0000")
    before = len(trunk.invites())
    status, body = await api.call("POST", "/dialer/call", json={"extension": "311",
                                                                "phonenumber": "15808675309"})
    assert status == 200, body
    await asyncio.to_thread(wait_until, lambda: len(trunk.invites()) >= before + 2, 15,
                            "the mobile and then the number on the trunk")
    mobile_leg, number_leg = trunk.invites()[before:before + 2]
    assert "5559990000" in mobile_leg and "15808675309" in number_leg
    done = await _wait_state(api, body["call_id"], "ended")
    assert done["device"] == "mobile" and "connected" in done["timestamps"]


async def test_a_device_that_leaves_is_not_rung_and_with_none_left_a_click_is_409(dialer_api,
                                                                                   running_pbx):
    """Devices are known from ContactStatus events (no AMI round trip per click); a device that
    unregisters is left out within a second, and an extension with none left is refused."""
    pbx, api = running_pbx, dialer_api
    dialer = api.app[DIALER]
    # An earlier test may have restarted Asterisk: its contacts turn Reachable at their next
    # qualify, and those ContactStatus events rightly make the next click ask. Settle that first.
    await asyncio.to_thread(pbx.wait_devices, "309", 2)
    await asyncio.sleep(1.0)
    notices: list[str] = []
    dialer.link.on("ContactStatus", lambda e: notices.append(f"{e.get('AOR')} {e.get('ContactStatus')}"))
    first = await api.ok("POST", "/dialer/call", json=DIAL)  # the first may ask; later ones not
    await _wait_state(api, first["call_id"], "ended")
    asked: list[str] = []
    original_getvar = dialer.link.getvar

    async def counting_getvar(variable):
        asked.append(variable)
        return await original_getvar(variable)

    dialer.link.getvar = counting_getvar
    observer = None
    try:
        call_id = (await api.ok("POST", "/dialer/call", json=DIAL))["call_id"]
        assert asked == [] or notices, "a click with nothing changed asked Asterisk for the devices"
        await _wait_state(api, call_id, "ended")

        soft = await asyncio.to_thread(pbx.unregister, "soft309", "309")
        left = time.monotonic()
        # the port of the softphone that quit: anything still sent there is logged here
        observer = await asyncio.to_thread(pbx.start_phone, "gone309", answer_ms=10_000,
                                           hangup_ms=600_000, port=soft.port)
        desk = pbx.phones["desk309"]
        rung = len(desk.invites())
        status, body = await api.call("POST", "/dialer/call", json=DIAL)
        assert time.monotonic() - left < 1.0 and status == 200, body
        wait_until(lambda: len(desk.invites()) > rung, 5, "the desk phone ringing")
        await _wait_state(api, body["call_id"], "ended")
        assert observer.invites() == [], "the device that left was rung"

        await asyncio.to_thread(pbx.unregister, "desk309", "309")
        left = time.monotonic()
        status, body = await api.call("POST", "/dialer/call", json=DIAL)
        assert time.monotonic() - left < 1.0
        assert status == 409 and body["message"] == "no devices", body
    finally:
        dialer.link.getvar = original_getvar
        if observer is not None:
            pbx.phones.pop("gone309", None)
            await asyncio.to_thread(stop_process, observer.proc, 3)
        for name, answer in (("desk309", 1500), ("soft309", 10_000)):
            if name not in pbx.phones:
                await asyncio.to_thread(pbx.start_phone, name, answer_ms=answer,
                                        hangup_ms=600_000, register_as="309")
        await asyncio.to_thread(pbx.wait_devices, "309", 2)



async def _calls_in_flight(api) -> dict[str, str]:
    """Five clicks: two connected to the far end, three still ringing 309's devices."""
    clicks = {}
    for _ in range(2):
        clicks[(await api.ok("POST", "/dialer/call", json=DIAL))["call_id"]] = "connected"
    for cid in list(clicks):
        await _wait_state(api, cid, "connected")
    for _ in range(3):
        clicks[(await api.ok("POST", "/dialer/call", json=DIAL))["call_id"]] = "ringing"
    for cid, state in clicks.items():
        if state == "ringing":
            await _wait_state(api, cid, "ringing")
    return clicks


async def _all_end_with_a_reason(api, clicks: dict[str, str], within: float,
                                 why: tuple[str, ...] = ("failure_reason",)) -> None:
    """Every click ended within `within` seconds, its progress saying why (one of `why`), in GET
    /dialer/calls/{id} and in the dial.progress apps were sent."""
    journal = api.app[EVENTS].journal
    deadline = time.monotonic() + within
    for cid in clicks:
        body = await _wait_state(api, cid, "ended", timeout=max(0.1, deadline - time.monotonic()))
        assert any(body[w] for w in why), body

        async def stored_ended():  # the journal stores it a moment later (PostgreSQL: a trip)
            stored = await journal.latest_progress(1, cid)
            return stored if stored and stored["state"] == "ended" else None
        stored = await eventually(stored_ended, max(2.0, deadline - time.monotonic()),
                                  f"the ended dial.progress of {cid} stored")
        assert any(stored[w] for w in why), stored


async def test_clicks_in_flight_end_with_a_reason_when_asterisk_is_killed(dialer_api, running_pbx):
    """Measured before: Asterisk killed with 2 clicks connected and 3 ringing, all five still
    connected/ringing 35 s later (a Hangup was the only thing that ended a call)."""
    pbx, api = running_pbx, dialer_api
    clicks = await _calls_in_flight(api)
    pbx.kill()
    await _all_end_with_a_reason(api, clicks, within=10)
    await asyncio.to_thread(pbx.start)
    await asyncio.to_thread(pbx.wait_devices, "309", 2)
    assert await api.app[AMI_LINK].wait_online(10)
    for cid in clicks:  # still ended once the PBX is back: nothing revives them
        assert (await api.ok("GET", f"/dialer/calls/{cid}"))["state"] == "ended"


async def test_clicks_in_flight_end_with_a_reason_when_asterisk_restarts(dialer_api, running_pbx):
    pbx, api = running_pbx, dialer_api
    clicks = await _calls_in_flight(api)
    pbx.cli("core restart now")
    # a restart hangs its channels up (Hangup events) before it closes AMI: the connected calls
    # end as hung up, the ringing ones as never answered, or all as lost when the link went first
    connected = {c: s for c, s in clicks.items() if s == "connected"}
    await _all_end_with_a_reason(api, connected, within=10,
                                 why=("hangup_cause", "failure_reason"))
    ringing = {c: s for c, s in clicks.items() if s == "ringing"}
    await _all_end_with_a_reason(api, ringing, within=10)
    await asyncio.to_thread(pbx.wait_devices, "309", 2, 30)
    assert await api.app[AMI_LINK].wait_online(10)
    assert "0 active calls" in pbx.cli("core show channels count")
