"""Screen-pop fan-out: call.ringing at N WebSocket clients of one account, measured from the AMI
event that caused it (Asterisk's own DialBegin timestamp, carried as the event's `time`) to
the client reading it.

    .venv/bin/python bench/events_fanout.py [--clients 500] [--calls 30]

Runs a private Asterisk + SIPp phones (tests/asterisk/pbx.py; needs scripts/install-asterisk.sh)
and `callbridge serve` in its own process; the clients are this process (aiohttp), so the
server's loop carries only its own work. Inbound SIPp calls to 309 ring both devices and are
cancelled while ringing. Baseline in the same run: the same calls with 1 client.
Target (issue 12): p99 < 50 ms with 500 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import aiohttp  # noqa: E402
from contacts_http import VENV_BIN, create_key, pbx_online, rss_mb, serve_env  # noqa: E402
from quick import parse_args  # noqa: E402
from tests.asterisk.pbx import Pbx  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def round_of(base: str, key: str, pbx: Pbx, clients: int, calls: int, first: int) -> dict:
    latencies: list[float] = []
    seen: dict[str, int] = {}
    # limit=0: aiohttp's default pool of 100 connections would hold the 101st WebSocket back
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def ticketed() -> aiohttp.ClientWebSocketResponse:
            return await http.ws_connect(f"{base}/events?types=call.ringing",
                                         headers={"x-api-key": key}, heartbeat=None)

        sockets = []
        for i in range(0, clients, 50):  # connect in steps: a burst of 500 handshakes at once
            sockets += await asyncio.gather(*(ticketed() for _ in range(min(50, clients - i))))

        async def read(ws) -> None:
            async for msg in ws:
                now = time.time()
                ev = json.loads(msg.data)
                at = datetime.fromisoformat(ev["time"].replace("Z", "+00:00")).timestamp()
                latencies.append((now - at) * 1000)
                seen[ev["data"]["call_id"]] = seen.get(ev["data"]["call_id"], 0) + 1

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        for n in range(calls):
            await asyncio.to_thread(pbx.call_in, f"555880{first + n:04d}", "309",
                                    cancel_after_ms=800)
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    return {"clients": clients, "calls": calls, "deliveries": len(latencies),
            "every_client_got_every_call": all(v == clients for v in seen.values())
            and len(seen) == calls,
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(pct(latencies, 99), 2), "max_ms": round(max(latencies), 2)}


async def main(clients: int, calls: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cb-eventsbench-"))
    pbx = Pbx(root)
    pbx.render()
    print(f"[bench] Asterisk booted in {pbx.start():.2f}s", file=sys.stderr)
    # 309's desk phone answers only after 10 s: every call is cancelled while ringing
    await asyncio.to_thread(pbx.start_standard_phones, trunk_answer_ms=300, trunk_hangup_ms=1000,
                            desk_answer_ms=10_000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = serve_env(root / "cb.db", port, CALLBRIDGE_AMI_PORT=str(pbx.ami_port),
                    CALLBRIDGE_AMI_USERNAME=pbx.ami_username, CALLBRIDGE_AMI_SECRET=pbx.ami_secret,
                    CALLBRIDGE_CALLERID_TOKEN=pbx.callerid_token)
    key = create_key(env)
    subprocess.run([str(VENV_BIN / "callbridge"), "extensions", "add", "--account", "bench",
                    "309"], env=env, check=True, capture_output=True)
    serve = subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await pbx_online(http, base)
        print(f"[bench] baseline: 1 client, {calls} calls", file=sys.stderr)
        baseline = await round_of(base, key, pbx, 1, calls, 0)
        print(f"[bench] {clients} clients, {calls} calls", file=sys.stderr)
        loaded = await round_of(base, key, pbx, clients, calls, 1000)
        loaded["server_rss_mb"] = rss_mb(serve.pid)
    finally:
        serve.terminate()
        serve.wait(10)
        pbx.stop_phones()
        pbx.stop()
    return {"baseline_1_client": baseline, "loaded": loaded,
            "p99_ratio_loaded_to_baseline": round(loaded["p99_ms"] / baseline["p99_ms"], 2)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--calls", type=int, default=30)
    args = parse_args(ap, clients=10, calls=3)
    print(json.dumps(asyncio.run(main(args.clients, args.calls)), indent=2))
