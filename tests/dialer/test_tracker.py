"""The call tracker stays bounded and follows the walk from the events a real call produces
(through the node's call model, as in the app)."""

from __future__ import annotations

from callbridge.ami.calls import CallModel
from callbridge.dialer.tracker import CallTracker


def _walk(t: CallTracker, cid: str) -> None:
    model = CallModel("default", "click-to-dial-ring")
    model.subscribe(t)
    for ev in ({"Event": "Newchannel", "Linkedid": cid, "Uniqueid": cid},
               {"Event": "Newchannel", "Linkedid": cid, "Uniqueid": cid + "-2"},
               {"Event": "DialBegin", "Linkedid": cid, "Uniqueid": cid + "-2"},
               {"Event": "DialEnd", "Linkedid": cid, "Uniqueid": cid + "-2", "DialStatus": "ANSWER",
                "DestChannel": "PJSIP/309-0001"},
               {"Event": "DialEnd", "Linkedid": cid, "Uniqueid": cid, "DialStatus": "ANSWER",
                "DestChannel": "PJSIP/trunk-0002"},
               {"Event": "Hangup", "Linkedid": cid, "Uniqueid": cid, "Cause-txt": "Normal Clearing"},
               {"Event": "Hangup", "Linkedid": cid, "Uniqueid": cid + "-2"}):
        model.feed(ev)


def test_a_call_walks_to_ended_with_its_device():
    t = CallTracker()
    t.start("c1", 1, "309", "15808675309")
    _walk(t, "c1")
    view = t.get("c1", 1).view()
    assert view.state == "ended" and view.device == "PJSIP/309-0001" and view.failure_reason is None
    assert list(view.timestamps) == ["queued", "ringing", "answered", "connected", "ended"]
    assert t.get("c1", 2) is None  # another account


def test_no_device_answering_is_a_failure_with_a_reason():
    t = CallTracker()
    t.start("c2", 1, "309", "123")
    t.on_originate_response("c2", {"Response": "Failure", "Reason": "3"})
    assert t.get("c2", 1).view().failure_reason == "no answer"


def test_memory_is_bounded():
    t = CallTracker(max_calls=100)
    for i in range(1000):
        t.start(f"c{i}", 1, "309", "123")
    assert len(t) <= 100 and t.get("c999", 1) is not None and t.get("c0", 1) is None
