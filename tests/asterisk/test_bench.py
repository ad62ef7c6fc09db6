"""The bench itself, proven through panoramisk: ring-all, the trunk, Cdr events, fast failure."""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.asterisk.ami_client import ami
from tests.asterisk.conftest import wait_until


def _originate(extension: str, number: str, call_id: str, **variables) -> dict:
    vars_ = {"CB_CALL_ID": call_id, **variables}
    return {"Action": "Originate", "Channel": f"Local/{extension}@callbridge-ring",
            "Context": "callbridge-outbound", "Exten": number, "Priority": "1",
            "Async": "true", "Timeout": "30000", "ChannelId": call_id,
            "OtherChannelId": call_id + "-2", "CallerID": f'"callbridge" <{extension}>',
            "Variable": [f"{k}={v}" for k, v in vars_.items()]}


async def test_originate_rings_both_devices_then_the_trunk_and_emits_cdrs(running_pbx):
    pbx = running_pbx
    desk, soft, trunk = (pbx.phones[n] for n in ("desk309", "soft309", "trunk"))
    before = {p.name: len(p.invites()) for p in (desk, soft, trunk)}
    call_id = f"cb-{uuid.uuid4()}"
    async with ami(pbx) as (manager, events):
        responses = await asyncio.wait_for(manager.send_action(
            _originate("309", "15808675309", call_id, CB_SHOW_NAME="Jenny", CB_SHOW_NUMBER="15808675309")), 20)
        final = responses[-1] if isinstance(responses, list) else responses
        assert final.get("Response") == "Success", dict(final)

        # both devices of 309 were rung, showing who is about to be called
        wait_until(lambda: len(desk.invites()) > before["desk309"] and len(soft.invites()) > before["soft309"],
                   5, "INVITEs on both devices of 309")
        assert "Jenny" in desk.invites()[-1] and "15808675309" in soft.invites()[-1]
        # the desk phone answered, so the number was dialled over the trunk
        wait_until(lambda: len(trunk.invites()) > before["trunk"], 10, "INVITE on the trunk")
        assert "15808675309" in trunk.invites()[-1]

        # the trunk hangs up after 4 s; every leg's Cdr carries the chosen linked id
        cdrs = await events.wait_for(
            lambda log: [e for e in log.matching(Event="Cdr", LinkedID=call_id)
                         if e.get("Disposition") == "ANSWERED" and "trunk" in e.get("DestinationChannel", "")],
            20, "an ANSWERED Cdr for the trunk leg")
        assert cdrs[0]["Destination"] == "15808675309"


async def test_inbound_call_produces_a_cdr_with_the_caller(running_pbx):
    pbx = running_pbx
    async with ami(pbx) as (manager, events):
        code = await asyncio.to_thread(pbx.call_in, "5551234", "309", talk_ms=1000)
        assert code == 0, "the inbound SIPp call did not complete"
        cdrs = await events.wait_for(
            lambda log: [e for e in log.matching(Event="Cdr", Source="5551234")
                         if e.get("Disposition") == "ANSWERED"], 10, "the inbound call's Cdr")
        assert cdrs[0]["Destination"] == "309"


async def test_originate_towards_an_extension_without_devices_fails_within_a_second(running_pbx):
    pbx = running_pbx
    call_id = f"cb-{uuid.uuid4()}"
    async with ami(pbx) as (manager, events):
        t0 = time.monotonic()
        responses = await asyncio.wait_for(manager.send_action(_originate("310", "15808675309", call_id)), 5)
        elapsed = time.monotonic() - t0
        final = responses[-1] if isinstance(responses, list) else responses
        assert final.get("Response") == "Failure", dict(final)
        assert elapsed < 1.0, elapsed


def test_the_bench_boots_the_asterisk_it_was_asked_for(running_pbx):
    """scripts/test runs the real-PBX tests on Debian's 16 and again on the 22 it builds
    (BENCH_ASTERISK_PREFIX): the instance answering is that version."""
    import os

    from tests.asterisk.pbx import ASTERISK
    expected = os.environ.get("BENCH_ASTERISK_VERSION", "16.")
    shown = running_pbx.cli("core show version")
    assert f"Asterisk {expected}" in shown, shown
    assert str(ASTERISK.binary) and ASTERISK.version().startswith(f"Asterisk {expected}")
