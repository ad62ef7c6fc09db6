"""How long a call's last Cdr trails its last Hangup on a real Asterisk under SIPp load: the
evidence behind the call log's `grace` (callbridge.calllog.service), the time a call that has no
live channel left waits for Cdr events still to come before its rows are built.

    .venv/bin/python bench/cdr_trail.py [--calls 600 --rate 40 --talk-ms 1500]

A private Asterisk from the test bench (tests/asterisk/pbx.py) answers `--calls` PSTN calls to
extension 309 at `--rate` new calls a second while click-to-dials run beside them; a raw AMI
socket records every event with its arrival time. For each call it reports how far (in
Asterisk's own event Timestamps, and in arrival time at the socket) its last Cdr came after its
last Hangup (negative: before it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ami_replay_server import frame_fields  # noqa: E402
from quick import parse_args  # noqa: E402
from tests.asterisk.ami_client import ami  # noqa: E402
from tests.asterisk.pbx import Pbx  # noqa: E402


def trails(frames: list[tuple[float, dict]]) -> dict[str, list[float]]:
    """Per call (Linkedid): [last Cdr - last Hangup by Asterisk's Timestamp, by arrival] in ms."""
    last_hangup: dict[str, tuple[float, float]] = {}
    last_cdr: dict[str, tuple[float, float]] = {}
    for arrived, ev in frames:
        name, lid = ev.get("Event"), ev.get("Linkedid") or ev.get("LinkedID")
        if not lid or "Timestamp" not in ev:
            continue
        at = (float(ev["Timestamp"]), arrived)
        if name == "Hangup":
            last_hangup[lid] = at
        elif name == "Cdr":
            last_cdr[lid] = at
    return {lid: [round((last_cdr[lid][i] - h[i]) * 1000, 2) for i in (0, 1)]
            for lid, h in last_hangup.items() if lid in last_cdr}


def summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {"calls": len(values), "median_ms": statistics.median(values), "p99_ms": pick(0.99),
            "max_ms": values[-1]}


async def record(calls: int, rate: float, talk_ms: int) -> dict:
    pbx = Pbx(Path(tempfile.mkdtemp(prefix="cb-trail-")), rtp_ports=2000)
    pbx.render()
    pbx.start()
    frames: list[tuple[float, dict]] = []
    with contextlib.ExitStack() as stack:  # unwinds last first: the tap, then phones and PBX
        stack.callback(pbx.stop)
        stack.callback(pbx.stop_phones)
        await asyncio.to_thread(pbx.start_standard_phones, trunk_answer_ms=300,
                                trunk_hangup_ms=talk_ms, desk_answer_ms=300)
        reader, writer = await asyncio.open_connection("127.0.0.1", pbx.ami_port)
        await reader.readline()
        writer.write(f"Action: Login\r\nUsername: {pbx.ami_username}\r\n"
                     f"Secret: {pbx.ami_secret}\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")

        async def tap() -> None:
            buffer = b""
            while data := await reader.read(65536):
                now = time.perf_counter()
                *done, buffer = (buffer + data).split(b"\r\n\r\n")
                frames.extend((now, frame_fields(f.decode("utf-8", "replace"))) for f in done)
        tapping = asyncio.ensure_future(tap())
        stack.callback(writer.close)
        stack.callback(tapping.cancel)
        load = pbx.call_load("5551230000", "309", calls=calls, rate=rate, talk_ms=talk_ms,
                             limit=max(10, int(rate * talk_ms / 1000 * 2)))
        async with ami(pbx) as (manager, _):
            clicks = 0
            while load.poll() is None:
                await manager.send_action({
                    "Action": "Originate", "Channel": "Local/310@callbridge-ring",
                    "Context": "callbridge-outbound", "Exten": "15808675309", "Priority": "1",
                    "Async": "true"})
                clicks += 1
                print(f"[trail] {len(frames):,} events so far, {clicks} clicks", file=sys.stderr)
                await asyncio.sleep(1.0)
            await asyncio.sleep(5)  # the last calls' Cdrs
    per_call = trails(frames)
    return {"calls_per_s": rate, "talk_ms": talk_ms, "events": len(frames),
            "by_asterisk_timestamp": summary([v[0] for v in per_call.values()]),
            "by_arrival": summary([v[1] for v in per_call.values()])}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=600)
    ap.add_argument("--rate", type=float, default=40)
    ap.add_argument("--talk-ms", type=int, default=1500)
    a = parse_args(ap, calls=20, rate=10)
    print(json.dumps(asyncio.run(record(a.calls, a.rate, a.talk_ms)), indent=2))
