"""Garbage and torn frames on the wire: the link keeps going and misses no real event."""

from __future__ import annotations

import asyncio
import os

import pytest

from callbridge.ami.link import AmiLink, AmiLinkLost, AmiSettings
from tests.ami.fake_ami import FakeAmi


async def _eventually(condition, tries: int = 60) -> None:
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.05)


@pytest.fixture
async def wire():
    """A fake AMI server and a link online to it; events holds every Newchannel the link saw."""
    fake = FakeAmi()
    await fake.start()
    events: list = []
    link = await _online_link(fake, events)
    yield fake, link, events
    await link.close()
    await fake.close()


async def _online_link(fake: FakeAmi, events: list) -> AmiLink:
    link = AmiLink(AmiSettings("127.0.0.1", fake.port, "callbridge", fake.secret,
                               ping_interval=0.2, action_timeout=1.0))
    link.on("Newchannel", lambda e: events.append(e))
    link.start()
    assert await link.wait_online(5)
    return link


async def test_garbage_bytes_do_not_drop_the_link_or_lose_following_events(wire):
    fake, link, events = wire
    await fake.send_raw(os.urandom(2048) + b"\xff\xfe\x00\r\n\r\n" + b"no colon here\r\n\r\n")
    await fake.send_raw(b"Event: Newchannel\r\nChannel: PJSIP/309-0001\r\nLinkedid: x1\r\n\r\n")
    await _eventually(lambda: events)
    assert [e["Channel"] for e in events] == ["PJSIP/309-0001"]
    await asyncio.sleep(0.5)  # pings keep being answered
    assert link.online and link.status().connects == 1


async def test_frames_split_at_every_byte_are_reassembled(wire):
    fake, link, events = wire
    frames = b"".join(f"Event: Newchannel\r\nChannel: PJSIP/309-{i:04d}\r\nUniqueid: u{i}\r\n\r\n".encode()
                      for i in range(3))
    await fake.send_raw(frames, pieces=len(frames), pause=0.001)
    await _eventually(lambda: len(events) == 3)
    assert [e["Channel"] for e in events] == [f"PJSIP/309-{i:04d}" for i in range(3)]
    assert link.online


async def test_an_action_pending_when_the_link_drops_fails_and_is_never_resent():
    fake = FakeAmi()
    fake.unanswered.add("originate")
    await fake.start()
    link = await _online_link(fake, [])
    try:
        pending = asyncio.ensure_future(link.action(
            {"Action": "Originate", "Channel": "Local/309@callbridge-ring", "Exten": "15550001",
             "Context": "callbridge-outbound", "Priority": "1", "Async": "true"},
            first_answer_only=True, timeout=5))
        await asyncio.sleep(0.2)
        assert not pending.done()
        for w in list(fake.writers):  # the PBX side drops the connection mid-action
            w.close()
        fake.writers.clear()
        with pytest.raises(AmiLinkLost):
            await asyncio.wait_for(pending, 2)
        assert await link.wait_online(5)
        await asyncio.sleep(0.5)  # panoramisk would re-send its queue right after FullyBooted
        originates = [a for a in fake.actions if a.get("Action", "").lower() == "originate"]
        assert len(originates) == 1
        logins = [a for a in fake.actions if a.get("Action", "").lower() == "login"]
        assert len(logins) == 2 and link.status().connects == 2
    finally:
        await link.close()
        await fake.close()


async def test_a_utf8_caller_name_torn_between_reads_arrives_whole(wire):
    """panoramisk decodes each read on its own, ignoring errors: a read boundary inside "é"
    dropped it ("Jos Mller" here, where every byte is its own read)."""
    fake, _, events = wire
    frame = "Event: Newchannel\r\nChannel: PJSIP/309-0001\r\nCallerIDName: José Müller\r\n\r\n"
    await fake.send_raw(frame.encode(), pieces=len(frame.encode()), pause=0.001)
    await _eventually(lambda: events)
    assert [e["CallerIDName"] for e in events] == ["José Müller"]


async def test_a_repeated_header_keeps_every_value_and_unwanted_events_reach_no_handler(wire):
    fake, link, events = wire
    hangups: list = []
    link.on("Hangup", hangups.append)
    await fake.send_raw(b"Event: VarSet\r\nVariable: X\r\n\r\n"
                        b"Event: Newchannel\r\nChannel: PJSIP/309-0002\r\n"
                        b"ChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n"
                        b"Event: Hangup\r\nChannel: PJSIP/309-0002\r\n\r\n")
    await _eventually(lambda: hangups)
    assert [e["ChanVariable"] for e in events] == [["A=1", "B=2"]]
    assert [e["Channel"] for e in hangups] == ["PJSIP/309-0002"]


async def test_a_peer_that_never_ends_a_frame_cannot_grow_memory_without_bound(wire):
    fake, link, events = wire
    await fake.send_raw(b"X" * (3 << 20))  # 3 MiB and no frame end: dropped, not buffered
    await fake.send_raw(b"\r\n\r\nEvent: Newchannel\r\nChannel: PJSIP/309-0003\r\n\r\n")
    await _eventually(lambda: events)
    assert [e["Channel"] for e in events] == ["PJSIP/309-0003"]
    manager = link._manager
    assert manager is not None and len(manager.protocol._pending_bytes) == 0
    assert link.online
