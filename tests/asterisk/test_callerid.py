"""The caller's name on the ringing phones, asked by Asterisk's dialplan (CURL) from callbridge,
and the PBX never waiting on callbridge: down, frozen, failing or slow, the call rings within 1 s
with what the trunk sent. Times are Asterisk's own (AMI event timestamps)."""

from __future__ import annotations

import asyncio
import socket
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from tests.asterisk.ami_client import ami
from tests.asterisk.conftest import callbridge_on, wait_until


async def _call_in(pbx, caller: str, name: str):
    """An inbound call to 309 whose caller hangs up while it rings (0.3 s after the caller hears
    it: both devices were invited before that, and the desk phone answers 1.5 s after it rings,
    a margin a loaded machine keeps); returns (seconds from the
    trunk channel appearing to 309's devices being dialled, the INVITEs 309's devices got)."""
    desk, soft = pbx.phones["desk309"], pbx.phones["soft309"]
    before = (len(desk.invites()), len(soft.invites()))
    async with ami(pbx) as (_, events):
        done = await asyncio.to_thread(pbx.call_in, caller, "309", cancel_after_ms=300,
                                       caller_name=name)
        assert done == 0
        first = await events.wait_for(
            lambda log: [e for e in log.matching(Event="Newchannel") if e.get("CallerIDNum") == caller],
            5, "the inbound channel")
        linked = first[0]["Linkedid"]
        dialled = await events.wait_for(
            lambda log: [e for e in log.matching(Event="DialBegin", Linkedid=linked)
                         if e.get("DestChannel", "").startswith("PJSIP/309-")], 5, "309 dialled")
    wait_until(lambda: len(desk.invites()) > before[0] and len(soft.invites()) > before[1], 5,
               "both devices of 309 ringing")
    delay = float(dialled[0]["Timestamp"]) - float(first[0]["Timestamp"])
    return delay, desk.invites()[-1], soft.invites()[-1]


async def test_a_stored_callers_name_rings_on_every_device(running_pbx, tmp_path):
    async with callbridge_on(running_pbx, tmp_path / "cb.db") as api:
        await api.ok("POST", "/contacts/contacts", json={"firstname": "Jenny", "lastname": "Tutone",
                                                         "mobile_phone": "+1 555 777 0001"})
        delay, desk, soft = await _call_in(running_pbx, "5557770001", "5557770001")  # trunk: a number
        assert '"Jenny Tutone"' in desk and '"Jenny Tutone"' in soft, (desk, soft)
        assert delay < 1.0
        # an unknown caller rings with the number alone
        delay, desk, soft = await _call_in(running_pbx, "5557770002", "5557770002")
        assert '"5557770002"' in desk and '"5557770002"' in soft and delay < 1.0
        # the contact's name wins over the one the carrier sends; with no contact, the carrier's
        await api.ok("POST", "/contacts/contacts", json={"firstname": "Stored", "mobile_phone": "5557770003"})
        _, desk, _ = await _call_in(running_pbx, "5557770003", "WIRELESS CALLER")
        assert '"Stored"' in desk, desk
        _, desk, _ = await _call_in(running_pbx, "5557770004", "WIRELESS CALLER")
        assert '"WIRELESS CALLER"' in desk, desk


@asynccontextmanager
async def _on_callbridges_port(pbx, kind: str):
    """Something other than a working callbridge where the dialplan asks."""
    if kind == "down":
        yield
        return
    if kind == "frozen":  # listening, never accepting: a SIGSTOPped process, seen from outside
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", pbx.callbridge_port))
        sock.listen(16)
        try:
            yield
        finally:
            sock.close()
        return

    async def answer(request):
        if kind == "slow":
            await asyncio.sleep(3)
            return web.Response(text="CB:Too Late")
        return web.Response(status=500, text="<html><body>500 Internal Server Error</body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/callerid", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", pbx.callbridge_port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("kind", ["down", "frozen", "failing", "slow"])
async def test_the_pbx_never_waits_on_callbridge(running_pbx, kind):
    async with _on_callbridges_port(running_pbx, kind):
        delay, desk, soft = await _call_in(running_pbx, "5557770010", "5557770010")
    assert delay < 1.0, f"callbridge {kind}: the call rang {delay:.2f} s late"
    for invite in (desk, soft):  # the number alone: never an error text, never a late answer
        assert '"5557770010"' in invite and "Error" not in invite and "Too Late" not in invite
