"""The node's call model: channel events in, typed transitions out, once, to every room."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbridge.ami.calls import CHANNEL_EVENTS, CallListener, CallModel, Dial, Left, LiveCall
from callbridge.ami.link import _event_fields
from callbridge.dialer.tracker import CallTracker

RING = "click-to-dial-ring"


class Log(CallListener):
    """Every transition, as text."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def call_started(self, call: LiveCall) -> None:
        self.said.append(f"started {call.linkedid} {call.caller}->{call.called}"
                         f"{' c2d' if call.click_to_dial else ''}")

    def dial_started(self, dial: Dial) -> None:
        self.said.append(f"dial {dial.source}->{dial.dest} {dial.extension}:{dial.device}")

    def dial_ended(self, dial: Dial) -> None:
        self.said.append(f"dialed {dial.source}->{dial.dest} {dial.status}")

    def channel_left(self, left: Left) -> None:
        self.said.append(f"left {left.uniqueid} {left.cause}")

    def call_over(self, call: LiveCall, stamp, seen: bool) -> None:
        self.said.append(f"over {call.linkedid} {'seen' if seen else 'unseen'}")

    def reconciled(self, alive) -> None:
        self.said.append(f"reconciled {sorted(alive) if alive is not None else None}")


def _inbound(lid: str = "100.1") -> list[dict]:
    """An inbound call ringing two devices of 309, the desk answering (Asterisk's fields)."""
    t = "1700000000.%d"
    return [
        {"Event": "Newchannel", "Channel": "PJSIP/trunk-00000001", "Uniqueid": lid,
         "Linkedid": lid, "CallerIDNum": "5551234", "CallerIDName": "<unknown>", "Exten": "309",
         "Timestamp": t % 1},
        {"Event": "Newchannel", "Channel": "PJSIP/309-00000002", "Uniqueid": lid + "2",
         "Linkedid": lid, "Timestamp": t % 2},
        {"Event": "Newchannel", "Channel": "PJSIP/309-00000003", "Uniqueid": lid + "3",
         "Linkedid": lid, "Timestamp": t % 2},
        {"Event": "DialBegin", "Channel": "PJSIP/trunk-00000001", "Uniqueid": lid,
         "Linkedid": lid, "DestChannel": "PJSIP/309-00000002", "DestUniqueid": lid + "2",
         "DialString": "309/sip:309@127.0.0.1:5071", "CallerIDNum": "5551234", "Exten": "309",
         "Timestamp": t % 3},
        {"Event": "DialBegin", "Channel": "PJSIP/trunk-00000001", "Uniqueid": lid,
         "Linkedid": lid, "DestChannel": "PJSIP/309-00000003", "DestUniqueid": lid + "3",
         "DialString": "309/sip:309@127.0.0.1:5072", "Timestamp": t % 3},
        {"Event": "DialEnd", "Uniqueid": lid, "Linkedid": lid, "DestUniqueid": lid + "3",
         "DestChannel": "PJSIP/309-00000003", "DialStatus": "CANCEL", "Timestamp": t % 4},
        {"Event": "DialEnd", "Uniqueid": lid, "Linkedid": lid, "DestUniqueid": lid + "2",
         "DestChannel": "PJSIP/309-00000002", "DialStatus": "ANSWER", "Timestamp": t % 4},
        {"Event": "Hangup", "Uniqueid": lid + "3", "Linkedid": lid, "Cause-txt": "Answered elsewhere",
         "Timestamp": t % 4},
        {"Event": "Hangup", "Uniqueid": lid + "2", "Linkedid": lid, "Cause-txt": "Normal Clearing",
         "Timestamp": t % 9},
        {"Event": "Hangup", "Uniqueid": lid, "Linkedid": lid, "Cause-txt": "Normal Clearing",
         "Timestamp": t % 9},
    ]


def test_an_inbound_call_is_folded_once_into_transitions_and_forgotten_when_over():
    model, log = CallModel("default", RING), Log()
    model.subscribe(log)
    for ev in _inbound():
        model.feed(ev)
    assert log.said == [
        "started 100.1 5551234->309",
        "dial 100.1->100.12 309:sip:309@127.0.0.1:5071",
        "dial 100.1->100.13 309:sip:309@127.0.0.1:5072",
        "dialed 100.1->100.13 CANCEL",
        "dialed 100.1->100.12 ANSWER",
        "left 100.13 Answered elsewhere",
        "left 100.12 Normal Clearing",
        "left 100.1 Normal Clearing",
        "over 100.1 seen",
    ]
    assert len(model) == 0 and not model.is_live("100.1")


def test_a_click_to_dial_rings_devices_and_the_mobile_but_its_far_end_is_no_device():
    model, log = CallModel("default", RING), Log()
    model.subscribe(log)
    cid = "c2d-1"
    for ev in (
        {"Event": "Newchannel", "Channel": f"Local/309@{RING}-00000001;1", "Uniqueid": cid,
         "Linkedid": cid, "CallerIDNum": "309", "Exten": "s"},
        {"Event": "Newchannel", "Channel": f"Local/309@{RING}-00000001;2",
         "Uniqueid": cid + "-2", "Linkedid": cid},
        {"Event": "DialBegin", "Channel": f"Local/309@{RING}-00000001;2", "Uniqueid": cid + "-2",
         "Linkedid": cid, "DestChannel": "PJSIP/trunk-00000005", "DestUniqueid": "m1"},
        {"Event": "DialBegin", "Channel": f"Local/309@{RING}-00000001;1", "Uniqueid": cid,
         "Linkedid": cid, "DestChannel": "PJSIP/trunk-00000006", "DestUniqueid": "far"},
    ):
        model.feed(ev)
    assert log.said == ["started c2d-1 309->s c2d",
                        "dial c2d-1-2->m1 309:mobile",       # the ring leg rings the mobile
                        "dial c2d-1->far None:None"]         # the ;1 leg dials the number


def test_listeners_are_gated_and_one_that_raises_blinds_no_other(caplog):
    model, log, gated = CallModel("default", RING), Log(), Log()
    held = False

    class Broken(CallListener):
        def call_started(self, call):
            raise RuntimeError("a room's bug")
    model.subscribe(Broken())
    model.subscribe(gated, when=lambda: held)
    model.subscribe(log)
    model.feed(_inbound("1.1")[0])
    held = True
    model.feed(_inbound("1.2")[0])
    assert log.said == ["started 1.1 5551234->309", "started 1.2 5551234->309"]
    assert gated.said == ["started 1.2 5551234->309"]
    assert "ami.call_listener_failed" in caplog.text


def test_a_reconnect_ends_what_is_gone_unseen_and_keeps_what_is_up():
    model, log = CallModel("default", RING), Log()
    model.subscribe(log)
    for ev in _inbound("1.1")[:3] + _inbound("2.1")[:3]:
        model.feed(ev)
    log.said.clear()
    # 2.1 is still up on the PBX; 1.1 ended while the link was down; 3.1 began meanwhile, and
    # one of its channels hung up while the snapshot was being taken
    model.replace([{"Event": "CoreShowChannel", "Uniqueid": "2.1", "Linkedid": "2.1"},
                   {"Event": "CoreShowChannel", "Uniqueid": "3.1", "Linkedid": "3.1"},
                   {"Event": "CoreShowChannel", "Uniqueid": "3.12", "Linkedid": "3.1"},
                   {"Event": "CoreShowChannelsComplete"}], hung_up={"3.12"})
    assert log.said == ["over 1.1 unseen", "reconciled ['2.1', '3.1']"]
    assert model.get("2.1").channels == {"2.1"} and model.get("2.1").caller == "5551234"
    model.feed({"Event": "Hangup", "Uniqueid": "3.1", "Linkedid": "3.1"})
    assert log.said[-1] == "over 3.1 seen" and sorted(model._calls) == ["2.1"]


def test_a_call_joined_mid_call_is_followed_from_its_first_dial():
    model, log = CallModel("default", RING), Log()
    model.subscribe(log)
    model.feed({"Event": "DialBegin", "Channel": "PJSIP/310-00000001", "Uniqueid": "9.1",
                "Linkedid": "9.1", "DestChannel": "PJSIP/309-00000002", "DestUniqueid": "9.2"})
    assert model.get("9.1").channels == {"9.1", "9.2"} and model.get("9.1").origin is None
    model.feed({"Event": "Hangup", "Uniqueid": "9.2", "Linkedid": "9.1"})
    model.feed({"Event": "Hangup", "Uniqueid": "9.1", "Linkedid": "9.1"})
    assert log.said[-1] == "over 9.1 seen" and len(model) == 0
    # a hang-up of a call never followed is said, but no call is over
    model.feed({"Event": "Hangup", "Uniqueid": "8.1", "Linkedid": "8.1", "Cause": "16"})
    assert log.said[-1] == "left 8.1 16"


def test_memory_is_bounded():
    model = CallModel("default", RING, max_calls=100)
    for i in range(1000):
        model.feed({"Event": "Newchannel", "Channel": "PJSIP/trunk-1", "Uniqueid": f"{i}.1",
                    "Linkedid": f"{i}.1"})
    assert len(model) == 100 and model.is_live("999.1") and not model.is_live("0.1")


STREAMS = Path(__file__).parent / "streams"


@pytest.mark.parametrize("version", ["16", "22"])
def test_a_recorded_asterisk_stream_folds_into_whole_calls(version):
    """What bench/record_ami_stream.py --rounds 1 recorded from the real bench on each Asterisk:
    three click-to-dials from 309 (two devices; the desk answers, then the far end), an inbound
    call answered, one missed, and one to 310, which has no device."""
    model, log, tracker = CallModel("default", "callbridge-ring"), Log(), CallTracker()
    for i in range(3):
        tracker.start(f"rec-0-{i}", 1, "309", "15808675309")
    model.subscribe(log)
    model.subscribe(tracker)
    for frame in (STREAMS / f"asterisk{version}.ami").read_bytes().decode().split("\r\n\r\n"):
        ev = _event_fields(frame)
        if ev.get("Event") in CHANNEL_EVENTS:
            model.feed(ev)
    assert len(model) == 0  # every call over, nothing followed any more
    started = [s.split()[1] for s in log.said if s.startswith("started")]
    over = [s.split()[1] for s in log.said if s.startswith("over")]
    assert len(started) == 6 and sorted(over) == sorted(started)  # each over once, all seen
    assert all(s.endswith(" seen") for s in log.said if s.startswith("over"))
    assert sum(s.endswith(" c2d") for s in log.said if s.startswith("started")) == 3

    def of(caller: str) -> list[str]:
        lid = next(s.split()[1] for s in log.said if s.startswith("started") and caller in s)
        return [s for s in log.said if lid in s.split()[1].split("->")[0]]
    answered = of("55512000->309")
    assert len([s for s in answered if s.startswith("dial ") and " 309:sip:309@" in s]) == 2
    assert sorted(s.split()[-1] for s in answered if s.startswith("dialed")) == ["ANSWER",
                                                                                 "CANCEL"]
    missed = of("55513000->309")
    assert [s.split()[-1] for s in missed if s.startswith("dialed")] == ["CANCEL", "CANCEL"]
    assert not [s for s in of("55514000->310") if s.startswith("dial")]  # no device to ring
    for i in range(3):
        view = tracker.get(f"rec-0-{i}", 1).view()
        assert view.state == "ended" and view.failure_reason is None
        assert list(view.timestamps) == ["queued", "ringing", "answered", "connected", "ended"]
        assert view.device.startswith("PJSIP/309-")


def test_a_channel_moved_into_another_call_ends_the_call_it_left():
    """A directed pickup: 310's own call (its channel dialled a pickup code) is swapped into the
    ringing call, and its Hangup names the call it joined. The call it came from is over then,
    not followed for ever."""
    model, log = CallModel("default", RING), Log()
    model.subscribe(log)
    for ev in _inbound("200.1")[:5]:
        model.feed(ev)
    model.feed({"Event": "Newchannel", "Channel": "PJSIP/310-00000009", "Uniqueid": "300.1",
                "Linkedid": "300.1", "CallerIDNum": "310", "Exten": "**309"})
    model.feed({"Event": "DialEnd", "Uniqueid": "200.1", "Linkedid": "200.1",
                "Channel": "PJSIP/trunk-00000001", "DestUniqueid": "300.1",
                "DestChannel": "PJSIP/310-00000009", "DialStatus": "ANSWER"})
    for uid in ("200.12", "200.13", "300.1", "200.1"):
        model.feed({"Event": "Hangup", "Uniqueid": uid, "Linkedid": "200.1"})
    assert [s for s in log.said if s.startswith("over")] == ["over 300.1 seen", "over 200.1 seen"]
    assert len(model) == 0 and model._call_of == {}
