"""Record a real AMI event stream from the test bench (Asterisk + SIPp), for calllog_replay.py.

    .venv/bin/python bench/record_ami_stream.py [--out bench/out/ami-stream.bin]

A raw socket logs in as the callbridge AMI user and records every byte after the login answer,
while a second connection places click-to-dial calls and SIPp places inbound calls (answered,
missed, to an extension without devices).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quick import parse_args  # noqa: E402
from tests.asterisk.ami_client import ami  # noqa: E402
from tests.asterisk.pbx import Pbx  # noqa: E402


async def record(out: Path, rounds: int) -> None:
    pbx = Pbx(Path(tempfile.mkdtemp(prefix="cb-record-")), rtp_ports=600)
    pbx.render()
    pbx.start()
    await asyncio.to_thread(pbx.start_standard_phones, trunk_answer_ms=300, trunk_hangup_ms=800,
                            desk_answer_ms=300)
    reader, writer = await asyncio.open_connection("127.0.0.1", pbx.ami_port)
    await reader.readline()
    writer.write(f"Action: Login\r\nUsername: {pbx.ami_username}\r\nSecret: {pbx.ami_secret}\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    chunks: list[bytes] = []

    async def tap():
        while data := await reader.read(65536):
            chunks.append(data)
    tapping = asyncio.ensure_future(tap())
    try:
        async with ami(pbx) as (manager, _):
            for r in range(rounds):
                print(f"[record] round {r + 1}/{rounds}", file=sys.stderr)
                for i in range(3):
                    await manager.send_action({
                        "Action": "Originate", "Channel": "Local/309@callbridge-ring",
                        "Context": "callbridge-outbound", "Exten": "15808675309", "Priority": "1",
                        "Async": "true", "ChannelId": f"rec-{r}-{i}", "OtherChannelId": f"rec-{r}-{i}-2"})
                    await asyncio.sleep(0.2)
                await asyncio.to_thread(pbx.call_in, f"55512{r:03d}", "309", talk_ms=300)
                await asyncio.to_thread(pbx.call_in, f"55513{r:03d}", "309", cancel_after_ms=100)
                await asyncio.to_thread(pbx.call_in, f"55514{r:03d}", "310", talk_ms=100, timeout=5)
            await asyncio.sleep(3)
    finally:
        tapping.cancel()
        writer.close()
        pbx.stop_phones()
        pbx.stop()
    data = b"".join(chunks)
    data = data[:data.rfind(b"\r\n\r\n") + 4]  # whole frames only
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(data)
    print(f"[record] {data.count(b'Event: ')} events, {data.count(b'Event: Cdr')} Cdr,"
          f" {len(data):,} bytes -> {out}", file=sys.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ami-stream.bin")
    ap.add_argument("--rounds", type=int, default=5)
    a = parse_args(ap, rounds=1)
    asyncio.run(record(a.out, a.rounds))
