"""Screen-pop fan-out: call.ringing at N WebSocket clients of one account, measured from the AMI
event that caused it (Asterisk's own DialBegin timestamp, carried as the event's `time`) to
the client reading it.

    .venv/bin/python bench/events_fanout.py [--clients 500] [--calls 30]
    .venv/bin/python bench/events_fanout.py --clients 2000 --instances 2   # scale-out

With --instances 2 (or more) the instances share one PostgreSQL database (a throwaway cluster,
tests/pg.py; needs scripts/install-postgresql.sh) and the clients are spread over them evenly:
one instance reads the node (its lease), the others hear its events through PostgreSQL.

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
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
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


async def _share(bases: list[str], key: str, numbers: range, conn: Connection) -> None:
    """One client process's share of the clients (numbers: which ones; client n uses instance
    n % len(bases)): connects them, says "ready", reads until told to stop, sends back what each
    instance's clients measured."""
    by_instance: list[list[float]] = [[] for _ in bases]
    seen: dict[str, int] = {}
    # limit=0: aiohttp's default pool of 100 connections would hold the 101st WebSocket back
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def ticketed(n: int) -> aiohttp.ClientWebSocketResponse:
            return await http.ws_connect(f"{bases[n % len(bases)]}/events?types=call.ringing",
                                         headers={"x-api-key": key}, heartbeat=None)

        sockets = []
        for i in range(numbers.start, numbers.stop, 50):  # a burst of 500 handshakes at once
            sockets += await asyncio.gather(*(ticketed(n)
                                              for n in range(i, min(i + 50, numbers.stop))))

        async def read(ws, at_instance: list[float]) -> None:
            async for msg in ws:
                now = time.time()
                ev = json.loads(msg.data)
                at = datetime.fromisoformat(ev["time"].replace("Z", "+00:00")).timestamp()
                at_instance.append((now - at) * 1000)
                seen[ev["data"]["call_id"]] = seen.get(ev["data"]["call_id"], 0) + 1

        readers = [asyncio.create_task(read(ws, by_instance[n % len(bases)]))
                   for n, ws in zip(numbers, sockets, strict=True)]
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "stop"
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    conn.send({"by_instance": by_instance, "seen": seen})


def _share_process(bases: list[str], key: str, numbers: range, conn: Connection) -> None:
    asyncio.run(_share(bases, key, numbers, conn))


async def round_of(bases: list[str], key: str, pbx: Pbx, clients: int, calls: int,
                   first: int, procs: int = 1) -> dict:
    """The clients live in `procs` processes of their own (spread evenly): one Python process
    reading 2,000 sockets spent longer reading each event's 2,000 frames than the servers took
    to send them, and its own queue showed up as latency."""
    spawn = multiprocessing.get_context("spawn")
    shares = [range(clients * i // procs, clients * (i + 1) // procs) for i in range(procs)]
    pipes, workers = [], []
    for numbers in shares:
        mine, theirs = spawn.Pipe()
        worker = spawn.Process(target=_share_process, args=(bases, key, numbers, theirs))
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    try:
        for pipe in pipes:
            if not await asyncio.to_thread(pipe.poll, 120):
                raise RuntimeError("a client process did not connect its clients in 120 s")
            assert pipe.recv() == "ready"
        for n in range(calls):
            await asyncio.to_thread(pbx.call_in, f"555880{first + n:04d}", "309",
                                    cancel_after_ms=800)
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)
        results = []
        for pipe in pipes:
            pipe.send("stop")
            if not await asyncio.to_thread(pipe.poll, 60):
                raise RuntimeError("a client process did not report in 60 s")
            results.append(pipe.recv())
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    by_instance = [sum((r["by_instance"][i] for r in results), []) for i in range(len(bases))]
    latencies = sum(by_instance, [])
    seen: dict[str, int] = {}
    for r in results:
        for call_id, count in r["seen"].items():
            seen[call_id] = seen.get(call_id, 0) + count
    return {"clients": clients, "client_processes": procs, "calls": calls,
            "deliveries": len(latencies),
            "every_client_got_every_call": all(v == clients for v in seen.values())
            and len(seen) == calls,
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(pct(latencies, 99), 2), "max_ms": round(max(latencies), 2),
            "p99_ms_by_instance": [round(pct(lat, 99), 2) for lat in by_instance if lat]}


async def main(clients: int, calls: int, instances: int = 1, procs: int = 1) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cb-eventsbench-"))
    pbx = Pbx(root)
    pbx.render()
    print(f"[bench] Asterisk booted in {pbx.start():.2f}s", file=sys.stderr)
    # 309's desk phone answers only after 10 s: every call is cancelled while ringing
    await asyncio.to_thread(pbx.start_standard_phones, trunk_answer_ms=300, trunk_hangup_ms=1000,
                            desk_answer_ms=10_000)
    database = root / "cb.db"
    if instances > 1:
        from tests.pg import cluster
        database = cluster().new_database()
    ports = []
    for _ in range(instances):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    envs = [serve_env(database, port, CALLBRIDGE_AMI_PORT=str(pbx.ami_port),
                      CALLBRIDGE_AMI_USERNAME=pbx.ami_username,
                      CALLBRIDGE_AMI_SECRET=pbx.ami_secret,
                      CALLBRIDGE_CALLERID_TOKEN=pbx.callerid_token) for port in ports]
    key = create_key(envs[0])
    subprocess.run([str(VENV_BIN / "callbridge"), "extensions", "add", "--account", "bench",
                    "309"], env=envs[0], check=True, capture_output=True)
    serves = [subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for env in envs]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with aiohttp.ClientSession() as http:
            for base in bases:
                await pbx_online(http, base)
        print(f"[bench] baseline: 1 client, {calls} calls", file=sys.stderr)
        baseline = await round_of(bases[:1], key, pbx, 1, calls, 0)
        print(f"[bench] {clients} clients over {instances} instance(s), {calls} calls",
              file=sys.stderr)
        loaded = await round_of(bases, key, pbx, clients, calls, 1000, procs)
        loaded["server_rss_mb"] = [rss_mb(serve.pid) for serve in serves]
    finally:
        for serve in serves:
            serve.terminate()
        for serve in serves:
            serve.wait(10)
        pbx.stop_phones()
        pbx.stop()
    return {"instances": instances, "database": "postgresql" if instances > 1 else "sqlite",
            "baseline_1_client": baseline, "loaded": loaded,
            "p99_ratio_loaded_to_baseline": round(loaded["p99_ms"] / baseline["p99_ms"], 2)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--instances", type=int, default=1,
                    help="callbridge instances on one PostgreSQL database, clients spread over them")
    ap.add_argument("--client-procs", type=int, default=1,
                    help="processes the clients are spread over (the baseline's 1 client: one)")
    args = parse_args(ap, clients=10, calls=3)
    print(json.dumps(asyncio.run(main(args.clients, args.calls, args.instances,
                                      args.client_procs)), indent=2))
