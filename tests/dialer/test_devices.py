"""The dialer's view of each extension's devices: kept until Asterisk says it may have changed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from callbridge.dialer import devices as devices_module
from callbridge.dialer.devices import ReachableDevices


@dataclass
class _Status:
    connects: int


class FakeLink:
    """Stands in for AmiLink's getvar/status: counts questions, answers from a table."""

    def __init__(self):
        self.answers = {"309": "PJSIP/309/sip:a&PJSIP/309/sip:b", "310": ""}
        self.asked: list[str] = []
        self.connects = 1
        self.gate: asyncio.Event | None = None

    def status(self):
        return _Status(self.connects)

    async def getvar(self, variable: str) -> str:
        self.asked.append(variable)
        if self.gate is not None:
            await self.gate.wait()
        return self.answers[variable[len("PJSIP_DIAL_CONTACTS("):-1]]


async def test_asked_once_then_kept_until_a_contact_status_notice():
    link = FakeLink()
    devices = ReachableDevices(link)
    assert await devices.contacts("309") == link.answers["309"]
    assert await devices.contacts("309") == link.answers["309"] and len(link.asked) == 1
    link.answers["309"] = "PJSIP/309/sip:a"
    devices.on_contact_status({"Event": "ContactStatus", "AOR": "310", "ContactStatus": "Removed"})
    assert await devices.contacts("309") != link.answers["309"]  # another AOR: still kept
    devices.on_contact_status({"Event": "ContactStatus", "AOR": "309", "ContactStatus": "Removed"})
    assert await devices.contacts("309") == "PJSIP/309/sip:a" and len(link.asked) == 2


async def test_a_reconnect_or_age_makes_it_ask_again(monkeypatch):
    link = FakeLink()
    devices = ReachableDevices(link)
    await devices.contacts("309")
    link.connects += 1
    await devices.contacts("309")
    assert len(link.asked) == 2
    monkeypatch.setattr(devices_module, "MAX_AGE_SECONDS", 0.0)
    await devices.contacts("309")
    assert len(link.asked) == 3


async def test_concurrent_misses_share_one_question_and_a_notice_meanwhile_is_not_lost():
    link = FakeLink()
    link.gate = asyncio.Event()
    devices = ReachableDevices(link)
    waiting = [asyncio.create_task(devices.contacts("309")) for _ in range(50)]
    while not link.asked:  # the Getvar is in flight
        await asyncio.sleep(0)
    devices.on_contact_status({"AOR": "309", "ContactStatus": "Created"})  # while asking
    link.gate.set()
    assert set(await asyncio.gather(*waiting)) == {link.answers["309"]} and len(link.asked) == 1
    link.gate = None
    await devices.contacts("309")  # the answer asked before the notice was not kept
    assert len(link.asked) == 2


async def test_prewarm_asks_every_extension():
    link = FakeLink()
    devices = ReachableDevices(link)
    await devices.prewarm(["309", "310"])
    assert sorted(link.asked) == ["PJSIP_DIAL_CONTACTS(309)", "PJSIP_DIAL_CONTACTS(310)"]
    assert await devices.contacts("310") == "" and len(link.asked) == 2
