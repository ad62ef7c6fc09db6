"""Click-to-dial latency: POST /dialer/call received -> Originate written on the AMI socket.

    .venv/bin/python bench/dialer_latency.py [--sequential 50] [--concurrent 50] [--rounds 5]

Runs a private Asterisk + SIPp phones (the test bench, tests/asterisk/pbx.py; needs
scripts/install-asterisk.sh) and callbridge in this process, so both instants are taken on the same
clock: a middleware in front of the app stamps the request's arrival, and panoramisk's send_action
(which writes the action to the socket synchronously) stamps the Originate. Then N calls one after
another, and N at once (--rounds times: with 50 samples a p99 is the single worst click, which one
scheduling hiccup on a 2-core machine decides); every call must walk to `ended` having connected
to the trunk.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from panoramisk import Manager  # noqa: E402
from quick import parse_args  # noqa: E402
from tests.asterisk.pbx import Pbx  # noqa: E402

from callbridge.accounts import routes as extension_routes  # noqa: E402
from callbridge.app import AMI_LINK, create_app  # noqa: E402
from callbridge.settings import Settings  # noqa: E402
from callbridge.web import middleware as mw  # noqa: E402

received: dict[str, float] = {}  # call id -> arrival of its POST
sent: dict[str, float] = {}      # call id -> its Originate written


@web.middleware
async def stamp_arrival(request, handler):
    t0 = time.perf_counter()
    response = await handler(request)
    if request.path == "/dialer/call" and response.status == 200:
        received[json.loads(response.body)["call_id"]] = t0
    return response


_real_send = Manager.send_action  # the link's Manager inherits it: patching the base stamps it


def stamped_send(self, action, *a, **kw):
    if str(action.get("Action", "")).lower() == "originate":
        sent[action["ChannelId"]] = time.perf_counter()
    return _real_send(self, action, *a, **kw)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def main(sequential: int, concurrent: int, rounds: int) -> dict:
    Manager.send_action = stamped_send
    root = Path(tempfile.mkdtemp(prefix="cb-dialbench-"))
    pbx = Pbx(root, rtp_ports=max(200, concurrent * 3 * 2 * 2))  # legs x (RTP+RTCP) x headroom
    pbx.render()
    print(f"[bench] Asterisk booted in {pbx.start():.2f}s", file=sys.stderr)
    await asyncio.to_thread(pbx.start_standard_phones, trunk_answer_ms=300, trunk_hangup_ms=1000,
                            desk_answer_ms=200)
    settings = Settings(database=root / "cb.db", ami_port=pbx.ami_port, ami_username=pbx.ami_username,
                        ami_secret=pbx.ami_secret, rate_limit="100000/15m", log_level="WARNING")
    app = create_app(settings)
    app.middlewares.insert(0, stamp_arrival)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        key = (await app[mw.ACCOUNT].create_key("bench"))[1]
        await app[extension_routes.SERVICE].add("bench", "309")  # the app's: its directory knows
        assert await app[AMI_LINK].wait_online(10)
        gc.freeze()  # as callbridge.app.run does once it serves
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(headers={"x-api-key": key}) as http:
            async def dial() -> str:
                async with http.post(f"{base}/dialer/call",
                                     json={"extension": "309", "phonenumber": "15808675309"}) as r:
                    body = await r.json()
                    assert r.status == 200, body
                    return body["call_id"]

            async def ended(call_id: str, timeout: float = 60) -> dict:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    async with http.get(f"{base}/dialer/calls/{call_id}") as r:
                        body = await r.json()
                    if body["state"] == "ended":
                        return body
                    await asyncio.sleep(0.25)
                raise AssertionError(f"{call_id} did not end: {body}")

            def latencies(call_ids: list[str]) -> list[float]:
                return [(sent[c] - received[c]) * 1000 for c in call_ids]

            print(f"[bench] {sequential} calls one after another", file=sys.stderr)
            seq_ids = []
            for i in range(sequential):
                seq_ids.append(await dial())
                await asyncio.sleep(0.05)
            seq_done = await asyncio.gather(*(ended(c) for c in seq_ids))
            con_ids, con_done, accept_s, round_max = [], [], [], []
            for r in range(rounds):
                print(f"[bench] {concurrent} calls at once (round {r + 1}/{rounds})", file=sys.stderr)
                t0 = time.perf_counter()
                ids = await asyncio.gather(*(dial() for _ in range(concurrent)))
                accept_s.append(time.perf_counter() - t0)
                con_done += await asyncio.gather(*(ended(c) for c in ids))
                con_ids += ids
                round_max.append(round(max(latencies(ids)), 3))
        seq_lat, con_lat = latencies(seq_ids), latencies(con_ids)
        for d in (*seq_done, *con_done):
            if "connected" not in d["timestamps"] or d["failure_reason"] is not None:
                print(f"[bench] NOT COMPLETED: {json.dumps(d)}", file=sys.stderr)
        ok = lambda done: sum(1 for d in done if "connected" in d["timestamps"] and d["failure_reason"] is None)
        return {
            "sequential": {"calls": sequential, "p50_ms": round(statistics.median(seq_lat), 3),
                           "p99_ms": round(pct(seq_lat, 99), 3), "max_ms": round(max(seq_lat), 3),
                           "connected_and_ended": ok(seq_done)},
            "concurrent": {"calls": concurrent, "rounds": rounds, "samples": len(con_lat),
                           "p50_ms": round(statistics.median(con_lat), 3),
                           "p99_ms": round(pct(con_lat, 99), 3), "max_ms": round(max(con_lat), 3),
                           "worst_of_each_round_ms": round_max,
                           "all_accepted_in_s": [round(a, 3) for a in accept_s],
                           "connected_and_ended": ok(con_done)},
        }
    finally:
        await runner.cleanup()
        pbx.stop_phones()
        pbx.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequential", type=int, default=50)
    ap.add_argument("--concurrent", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds of --concurrent calls at once; p99 is over all of them")
    a = parse_args(ap, sequential=3, concurrent=3, rounds=1)
    result = asyncio.run(main(a.sequential, a.concurrent, a.rounds))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "dialer.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    s, c = result["sequential"], result["concurrent"]
    print(f"\nreceived -> Originate written: p99 {s['p99_ms']} ms one at a time, {c['p99_ms']} ms with"
          f" {c['calls']} at once over {c['rounds']} rounds (target < 5 ms; worst click of each round"
          f" {c['worst_of_each_round_ms']}); completed correctly: {s['connected_and_ended']}/{s['calls']},"
          f" {c['connected_and_ended']}/{c['samples']}")
