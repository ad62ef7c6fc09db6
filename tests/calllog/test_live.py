"""Rows of parties that leave a call that goes on (callbridge.calllog.live), from channel events:
a transferer's row is drafted a second after it left, not when the whole call ends."""

from __future__ import annotations

import time

from callbridge.ami.calls import CallModel
from callbridge.calllog.live import LeavingParties

T0 = 1_700_000_000


def _ev(event: str, at: float, lid: str = "c1", **fields: str) -> dict:
    return {"Event": event, "Linkedid": lid, "Timestamp": f"{T0 + at:.6f}", **fields}


def _inbound_answered_by_309() -> list[dict]:
    """The trunk calls in (Ada, 5551234), 309's desk rings at +1 s and answers at +3.4 s."""
    return [
        _ev("Newchannel", 0, Channel="PJSIP/trunk-00000001", Uniqueid="c1",
            CallerIDNum="5551234", CallerIDName="Ada", Exten="704"),
        _ev("Newchannel", 1, Channel="PJSIP/309-00000002", Uniqueid="c1-309"),
        _ev("DialBegin", 1, Channel="PJSIP/trunk-00000001", Uniqueid="c1",
            DestChannel="PJSIP/309-00000002", DestUniqueid="c1-309", DialString="309"),
        _ev("DialEnd", 3.4, Channel="PJSIP/trunk-00000001", Uniqueid="c1",
            DestChannel="PJSIP/309-00000002", DestUniqueid="c1-309", DialStatus="ANSWER"),
    ]


def _model() -> tuple[CallModel, LeavingParties]:
    model = CallModel("default", "callbridge-ring")
    leaving = LeavingParties(model, live_after=0.0)
    model.subscribe(leaving)
    return model, leaving


def test_a_party_that_hands_the_call_over_gets_its_row_drafted_while_the_call_goes_on():
    model, leaving = _model()
    for ev in _inbound_answered_by_309():
        model.feed(ev)
    assert leaving.due() == []  # 309 is still on the call
    # 309 transfers (REFER) and its channel leaves at +9.7 s; the trunk is dialled on to 310
    model.feed(_ev("Hangup", 9.7, Uniqueid="c1-309", **{"Cause-txt": "Normal Clearing"}))
    model.feed(_ev("Newchannel", 9.8, Channel="PJSIP/310-00000003", Uniqueid="c1-310"))
    [(lid, draft)] = leaving.due()
    assert lid == "c1" and model.is_live("c1")
    assert (draft.extension, draft.direction, draft.disposition, draft.number_outside,
            draft.name_outside) == ("309", "INCOMING", "ANSWERED", "5551234", "Ada")
    assert (draft.call_timestamp, draft.answer_timestamp, draft.end_timestamp) == (
        "2023-11-14 22:13:21", "2023-11-14 22:13:23", "2023-11-14 22:13:29")
    assert (draft.duration, draft.billsec) == (8, 6)  # rang at +1, answered +3.4, left +9.7
    assert leaving.due() == []  # drafted once


def test_a_plain_hang_up_leaves_the_row_to_the_cdrs():
    """The caller hangs up a moment after 309: the call is over before the draft is due."""
    model = CallModel("default", "callbridge-ring")
    leaving = LeavingParties(model, live_after=0.2)
    model.subscribe(leaving)
    for ev in _inbound_answered_by_309():
        model.feed(ev)
    model.feed(_ev("Hangup", 9.7, Uniqueid="c1-309"))
    model.feed(_ev("Hangup", 9.71, Uniqueid="c1"))
    time.sleep(0.25)
    assert leaving.due() == []


def test_a_device_that_only_rang_is_never_drafted():
    model, leaving = _model()
    for ev in _inbound_answered_by_309()[:3]:
        model.feed(ev)
    model.feed(_ev("DialEnd", 5, Channel="PJSIP/trunk-00000001", Uniqueid="c1",
                   DestChannel="PJSIP/309-00000002", DestUniqueid="c1-309", DialStatus="NOANSWER"))
    model.feed(_ev("Hangup", 5, Uniqueid="c1-309"))
    assert leaving.due() == []  # missed or not is known at the call's end (answered elsewhere)


def test_an_extension_that_called_out_and_transferred_the_far_end_gets_its_outgoing_row():
    """309 dials 5557770000 through the trunk, the far end answers, 309 transfers it and leaves:
    its OUTGOING row has the number Dial() was given."""
    model, leaving = _model()
    for ev in [
        _ev("Newchannel", 0, lid="c2", Channel="PJSIP/309-00000009", Uniqueid="c2",
            CallerIDNum="309", Exten="95557770000"),
        _ev("DialBegin", 0.5, lid="c2", Channel="PJSIP/309-00000009", Uniqueid="c2",
            DestChannel="PJSIP/trunk-0000000a", DestUniqueid="c2-far",
            DialString="5557770000@trunk"),
        _ev("DialEnd", 4.2, lid="c2", Channel="PJSIP/309-00000009", Uniqueid="c2",
            DestChannel="PJSIP/trunk-0000000a", DestUniqueid="c2-far", DialStatus="ANSWER"),
        _ev("Hangup", 20.1, lid="c2", Uniqueid="c2"),
    ]:
        model.feed(ev)
    [(_, draft)] = leaving.due()
    assert (draft.extension, draft.direction, draft.number_outside, draft.billsec,
            draft.duration) == ("309", "OUTGOING", "5557770000", 15, 20)


def test_a_reconnect_forgets_the_calls_that_ended_meanwhile():
    model, leaving = _model()
    for ev in _inbound_answered_by_309():
        model.feed(ev)
    model.feed(_ev("Hangup", 9.7, Uniqueid="c1-309"))
    leaving.reconciled(set())  # the call ended while the link was down: the CDRs build it
    assert leaving.due() == []
