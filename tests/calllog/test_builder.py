"""The CDR -> row rules, on CDRs recorded from the real bench (Asterisk 16.28)."""

from __future__ import annotations

from callbridge.ami.channels import parse_channel
from callbridge.calllog.builder import build_rows, clid_name
from callbridge.calllog.cdr import epoch_ms_text


def cdr(seq, src, dst, dcontext, clid, channel, dstchannel, start, answer, end, billsec, disp,
        uniqueid, linkedid, userfield=""):
    return {"sequence": seq, "src": src, "dst": dst, "dcontext": dcontext, "clid": clid,
            "channel": channel, "dstchannel": dstchannel, "start": start, "answer": answer or None,
            "end": end, "billsec": billsec, "disposition": disp, "uniqueid": uniqueid,
            "linkedid": linkedid, "userfield": userfield}


# a click-to-dial from 309 to 15808675309: the trunk leg, the device that answered, the other one
C2D = [
    cdr(0, "309", "15808675309", "outbound", '"Alice" <309>', "Local/309@callbridge-ring-00000000;1",
        "PJSIP/trunk-00000002", "2026-11-22 20:39:15", "2026-11-22 20:39:15", "2026-11-22 20:39:17",
        2, "ANSWERED", "C2D", "C2D", "C2D"),
    cdr(1, "15808675309", "309", "callbridge-ring", '"" <15808675309>', "Local/309@callbridge-ring-00000000;2",
        "PJSIP/309-00000000", "2026-11-22 20:39:15", "2026-11-22 20:39:15", "2026-11-22 20:39:17",
        2, "ANSWERED", "C2D-2", "C2D"),
    cdr(4, "", "309", "callbridge-ring", '"" <>', "Local/309@callbridge-ring-00000000;2",
        "PJSIP/309-00000001", "2026-11-22 20:39:15", None, "2026-11-22 20:39:15", 0, "NO ANSWER",
        "C2D-2", "C2D"),
]
# an inbound call from 5551234 that rang both devices of 309, answered on one
INBOUND = [
    cdr(6, "5551234", "309", "extensions", '"PSTN 5551234" <5551234>', "PJSIP/trunk-00000003",
        "PJSIP/309-00000004", "2026-11-22 20:39:19", "2026-11-22 20:39:20", "2026-11-22 20:39:21",
        1, "ANSWERED", "cb-1.8", "cb-1.8"),
    cdr(9, "5551234", "309", "extensions", '"PSTN 5551234" <5551234>', "PJSIP/trunk-00000003",
        "PJSIP/309-00000005", "2026-11-22 20:39:19", None, "2026-11-22 20:39:20", 0, "NO ANSWER",
        "cb-1.8", "cb-1.8"),
]
# an inbound call to 310, which has no device
FAILED = [cdr(14, "5558888", "310", "extensions", '"PSTN 5558888" <5558888>', "PJSIP/trunk-00000009",
              "", "2026-11-22 20:39:25", None, "2026-11-22 20:39:25", 0, "FAILED", "cb-1.16", "cb-1.16")]


def test_click_to_dial_is_one_outgoing_row_with_far_end_talk_time():
    far = {"answered_at": "2026-11-22 20:39:16", "ended_at": "2026-11-22 20:39:17"}
    [row] = build_rows(C2D, ring_context="callbridge-ring", far_end=far)
    assert (row.extension, row.direction, row.disposition) == ("309", "OUTGOING", "ANSWERED")
    assert row.number_outside == "15808675309" and row.call_id == "C2D" and row.uniqueid == "C2D"
    assert row.call_timestamp == "2026-11-22 20:39:15" and row.end_timestamp == "2026-11-22 20:39:17"
    assert row.answer_timestamp == "2026-11-22 20:39:16" and row.billsec == 1 and row.duration == 2


def test_far_end_talk_time_is_truncated_once_as_asterisk_counts_billsec():
    # 1.1 s from x.95 to y+2.05: Asterisk's billsec (whole seconds of the exact span) says 1;
    # truncating each end to its second first would say 2
    answered, ended = epoch_ms_text(1795380955.95), epoch_ms_text(1795380957.05)
    assert (answered, ended) == ("2026-11-22 20:55:55.950", "2026-11-22 20:55:57.050")
    [row] = build_rows(C2D, ring_context="callbridge-ring",
                       far_end={"answered_at": answered, "ended_at": ended})
    assert row.billsec == 1 and row.answer_timestamp == "2026-11-22 20:55:55"


def test_click_to_dial_without_dialend_falls_back_to_the_trunk_leg():
    [row] = build_rows(C2D, ring_context="callbridge-ring")
    assert row.billsec == 2 and row.answer_timestamp == "2026-11-22 20:39:15"


def test_click_to_dial_nobody_answered_is_no_answer():
    [row] = build_rows(C2D[2:], ring_context="callbridge-ring",
                       dialed={"extension": "309", "number": "15808675309", "call_id": "C2D"})
    assert (row.direction, row.disposition, row.billsec, row.number_outside) == (
        "OUTGOING", "NO ANSWER", 0, "15808675309")


def test_inbound_that_rang_two_devices_is_one_answered_row():
    [row] = build_rows(INBOUND, ring_context="callbridge-ring")
    assert (row.extension, row.direction, row.disposition) == ("309", "INCOMING", "ANSWERED")
    assert row.number_outside == "5551234" and row.name_outside == "PSTN 5551234"
    assert row.answer_timestamp == "2026-11-22 20:39:20" and row.billsec == 1 and row.duration == 2
    assert row.call_id is None


def test_unanswered_inbound_is_no_answer_and_no_device_is_failed():
    [row] = build_rows([INBOUND[1]], ring_context="callbridge-ring")
    assert row.disposition == "NO ANSWER" and row.billsec == 0
    [row] = build_rows(FAILED, ring_context="callbridge-ring")
    assert (row.extension, row.direction, row.disposition) == ("310", "INCOMING", "FAILED")


def test_internal_call_gives_each_side_a_row_and_outbound_from_a_phone_is_outgoing():
    internal = cdr(1, "309", "310", "extensions", '"Alice" <309>', "PJSIP/309-00000001",
                   "PJSIP/310-00000002", "2026-11-22 10:00:00", "2026-11-22 10:00:02",
                   "2026-11-22 10:00:09", 7, "ANSWERED", "u1", "u1")
    rows = {r.extension: r for r in build_rows([internal], ring_context="callbridge-ring")}
    assert rows["309"].direction == rows["310"].direction == "INTERNAL"
    assert rows["309"].number_outside == "310" and rows["310"].number_outside == "309"
    assert rows["310"].name_outside == "Alice"
    out = cdr(1, "309", "15551230000", "outbound", '"Alice" <309>', "PJSIP/309-00000003",
              "PJSIP/trunk-00000004", "2026-11-22 10:00:00", None, "2026-11-22 10:00:30", 0,
              "BUSY", "u2", "u2")
    [row] = build_rows([out], ring_context="callbridge-ring")
    assert (row.extension, row.direction, row.disposition, row.number_outside) == (
        "309", "OUTGOING", "BUSY", "15551230000")


def test_parse_channel_and_clid():
    assert parse_channel("Local/309@callbridge-ring-00000000;2").half == "2"
    assert parse_channel("Local/309@callbridge-ring-00000000;2").context == "callbridge-ring"
    assert parse_channel("PJSIP/my-trunk-0000000a").name == "my-trunk"
    assert parse_channel("PJSIP/309-00000004").is_extension
    assert parse_channel("") is None
    assert clid_name('"PSTN 5551234" <5551234>') == "PSTN 5551234" and clid_name('"" <>') is None


def _queue(members: dict[str, str], *, local: bool) -> list[dict]:
    """A trunk call to queue 700 ringing each member (extension -> its disposition), directly
    (PJSIP/<ext>) or FreePBX's way (Local/<ext>@from-queue/n: the queue's CDR ends at the ';1'
    half, the ';2' half's CDR dials the device). The queue answered the caller first."""
    rows = [cdr(0, "5551234", "700", "from-trunk", '"Ada" <5551234>', "PJSIP/trunk-00000001", "",
                "2026-12-03 10:00:00", "2026-12-03 10:00:00", "2026-12-03 10:00:30", 30,
                "ANSWERED", "Q", "Q")]
    for i, (ext, disp) in enumerate(members.items(), start=1):
        answer = "2026-12-03 10:00:05" if disp == "ANSWERED" else None
        billsec = 25 if disp == "ANSWERED" else 0
        end = "2026-12-03 10:00:30" if disp == "ANSWERED" else "2026-12-03 10:00:05"
        if local:
            pair = f"Local/{ext}@from-queue-0000000{i}"
            rows.append(cdr(2 * i, "5551234", "700", "from-trunk", '"Ada" <5551234>',
                            "PJSIP/trunk-00000001", pair + ";1", "2026-12-03 10:00:01", answer,
                            end, billsec, disp, "Q", "Q"))
            rows.append(cdr(2 * i + 1, "5551234", ext, "from-queue", '"Ada" <5551234>',
                            pair + ";2", f"PJSIP/{ext}-0000000{i}", "2026-12-03 10:00:01", answer,
                            end, billsec, disp, f"Q{i}", "Q"))
        else:
            rows.append(cdr(2 * i, "5551234", "700", "from-trunk", '"Ada" <5551234>',
                            "PJSIP/trunk-00000001", f"PJSIP/{ext}-0000000{i}",
                            "2026-12-03 10:00:01", answer, end, billsec, disp, "Q", "Q"))
    return rows


def test_a_queue_answered_by_one_member_is_one_row_and_no_missed_call_for_the_others():
    for local in (False, True):
        rows = build_rows(_queue({"309": "NO ANSWER", "311": "ANSWERED"}, local=local),
                          ring_context="callbridge-ring")
        assert [(r.extension, r.direction, r.disposition, r.number_outside, r.name_outside)
                for r in rows] == [("311", "INCOMING", "ANSWERED", "5551234", "Ada")], local
        assert rows[0].billsec == 25 and rows[0].answer_timestamp == "2026-12-03 10:00:05"


def test_a_queue_call_nobody_answered_is_a_missed_call_for_every_member_and_none_for_the_queue():
    for local in (False, True):
        rows = build_rows(_queue({"309": "NO ANSWER", "311": "NO ANSWER"}, local=local),
                          ring_context="callbridge-ring")
        assert sorted((r.extension, r.direction, r.disposition, r.number_outside)
                      for r in rows) == [("309", "INCOMING", "NO ANSWER", "5551234"),
                                         ("311", "INCOMING", "NO ANSWER", "5551234")], local


def test_an_internal_ring_group_keeps_the_callers_row_and_drops_the_member_that_only_rang():
    internal = [cdr(1, "309", "600", "internal", '"Alice" <309>', "PJSIP/309-00000001",
                    "PJSIP/310-00000002", "2026-12-03 10:00:00", None, "2026-12-03 10:00:04", 0,
                    "NO ANSWER", "I", "I"),
                cdr(2, "309", "600", "internal", '"Alice" <309>', "PJSIP/309-00000001",
                    "PJSIP/311-00000003", "2026-12-03 10:00:00", "2026-12-03 10:00:04",
                    "2026-12-03 10:00:10", 6, "ANSWERED", "I", "I")]
    rows = build_rows(internal, ring_context="callbridge-ring")
    assert sorted((r.extension, r.disposition) for r in rows) == [("309", "ANSWERED"),
                                                                  ("311", "ANSWERED")]


# a directed pickup as Asterisk 16 wrote it (Master.csv of the bench): 309 rang, 310 picked it
# up; the replaced leg is marked ANSWERED for 0 s, depending on timing
PICKUP = [
    cdr(1, "309", "803", "from-trunk", '"Alice" <309>', "PJSIP/309-00000001", "",
        "2026-12-03 16:49:04", None, "2026-12-03 16:49:05", 0, "NO ANSWER", "P.1", "P.0"),
    cdr(0, "5557770205", "703", "from-trunk", '"PSTN 5557770205" <5557770205>',
        "PJSIP/trunk-00000000", "PJSIP/309-00000001", "2026-12-03 16:49:04",
        "2026-12-03 16:49:05", "2026-12-03 16:49:05", 0, "ANSWERED", "P.0", "P.0"),
    cdr(3, "5557770205", "703", "from-trunk", '"PSTN 5557770205" <5557770205>',
        "PJSIP/trunk-00000000", "PJSIP/310-00000002", "2026-12-03 16:49:05",
        "2026-12-03 16:49:05", "2026-12-03 16:49:06", 1, "ANSWERED", "P.0", "P.0"),
]


def test_a_directed_pickup_is_the_pickers_answered_call_and_nothing_for_the_ringing_one():
    for cdrs in (PICKUP, [PICKUP[0], {**PICKUP[1], "disposition": "NO ANSWER", "answer": None},
                          PICKUP[2]]):
        rows = build_rows(cdrs, ring_context="callbridge-ring")
        assert [(r.extension, r.direction, r.disposition, r.number_outside, r.billsec)
                for r in rows] == [("310", "INCOMING", "ANSWERED", "5557770205", 1)]


def test_an_outgoing_row_keeps_the_number_dialled_when_the_far_end_transfers():
    """309 dialled 5551234; the far end transferred the call (SIP REFER) to 310 and Asterisk
    rewrote the leg's dst to 310. The row's number is what 309 dialled (the Dial's data)."""
    out = {**cdr(1, "309", "310", "outbound", '"Alice" <309>', "PJSIP/309-00000001",
                 "PJSIP/trunk-00000002", "2026-12-03 10:00:00", "2026-12-03 10:00:02",
                 "2026-12-03 10:00:09", 7, "ANSWERED", "O", "O"),
           "lastapp": "Dial", "lastdata": "PJSIP/5551234@trunk,120"}
    [row] = build_rows([out], ring_context="callbridge-ring")
    assert (row.extension, row.direction, row.number_outside) == ("309", "OUTGOING", "5551234")
    [row] = build_rows([{**out, "lastapp": "Queue"}], ring_context="callbridge-ring")
    assert row.number_outside == "310"  # no dial string to read: what the CDR says


# an attended transfer as Asterisk 22 wrote it (the bench: AMI Atxfer on 309's channel to 310,
# 309 hangs up to complete it): the consultation 309 -> Local;1, then the caller's leg forked
# into the same pair, whose ';2' half rang and answered 310
ATXFER = [
    cdr(0, "5557770209", "309", "extensions", '"PSTN 5557770209" <5557770209>',
        "PJSIP/trunk-00000000", "PJSIP/309-00000001", "2026-12-03 20:19:10", None,
        "2026-12-03 20:19:11", 0, "NO ANSWER", "A.0", "A.0"),
    cdr(3, "5557770209", "309", "extensions", '"PSTN 5557770209" <5557770209>',
        "PJSIP/trunk-00000000", "PJSIP/309-00000002", "2026-12-03 20:19:10",
        "2026-12-03 20:19:11", "2026-12-03 20:19:15", 3, "ANSWERED", "A.0", "A.0"),
    cdr(6, "309", "", "internal", '"Alice" <309>', "PJSIP/309-00000002",
        "Local/310@internal-00000000;1", "2026-12-03 20:19:15", "2026-12-03 20:19:15",
        "2026-12-03 20:19:17", 1, "ANSWERED", "A.2", "A.0"),
    cdr(8, "310", "310", "internal", '"Bob" <310>', "Local/310@internal-00000000;1", "",
        "2026-12-03 20:19:17", "2026-12-03 20:19:17", "2026-12-03 20:19:23", 6, "ANSWERED",
        "A.3", "A.0"),
    cdr(9, "5557770209", "309", "extensions", '"PSTN 5557770209" <5557770209>',
        "PJSIP/trunk-00000000", "Local/310@internal-00000000;1", "2026-12-03 20:19:15",
        "2026-12-03 20:19:15", "2026-12-03 20:19:23", 8, "ANSWERED", "A.0", "A.0"),
    cdr(5, "5557770209", "310", "extensions", '"PSTN 5557770209" <5557770209>',
        "Local/310@internal-00000000;2", "PJSIP/310-00000003", "2026-12-03 20:19:15",
        "2026-12-03 20:19:16", "2026-12-03 20:19:23", 7, "ANSWERED", "A.4", "A.0"),
]


def test_an_attended_transfer_is_a_row_for_the_transferer_and_one_for_the_target():
    """Before: the consultation entered the pair first, so 310's leg read as an internal call
    from 309, and 309's row ran to the end of the whole call."""
    rows = build_rows(ATXFER, ring_context="callbridge-ring")
    assert [(r.extension, r.direction, r.disposition, r.number_outside, r.name_outside,
             r.answer_timestamp[-8:], r.end_timestamp[-8:], r.billsec) for r in rows] == [
        # 309: answered at :11, talked with the caller then with 310, left at :17
        ("309", "INCOMING", "ANSWERED", "5557770209", "PSTN 5557770209", "20:19:11",
         "20:19:17", 6),
        # 310: the original caller, from its answer of the consultation to the end
        ("310", "INCOMING", "ANSWERED", "5557770209", "PSTN 5557770209", "20:19:16",
         "20:19:23", 7)]
