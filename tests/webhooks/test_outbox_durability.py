"""The outbox survives kill -9: a burst of deliveries to a slow receiver, callbridge killed in
the middle of it, restarted; every delivery arrives (at least once, the same webhook-id on a
resend), each signature verifying with the reference package."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import aiohttp
from standardwebhooks import Webhook as Verifier

from tests.conftest import serve_process
from tests.pg import created_database
from tests.webhooks.receiver import Receiver

BURST = 150


async def _up(base: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(base + "/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "callbridge did not start"
            await asyncio.sleep(0.1)


async def test_deliveries_survive_kill_9_mid_burst(tmp_path, free_port):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"CALLBRIDGE_PORT": str(port), "CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE": "true"}
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    cli_env["CALLBRIDGE_DATABASE"] = created_database(tmp_path, "cb.db")
    key = subprocess.run([sys.executable, "-m", "callbridge", "keys", "create", "--account",
                          "acme"], env=cli_env, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    receiver = await Receiver(delay=0.25).start()  # 16 at a time, 0.25 s each: ~2.5 s of burst
    proc = serve_process(tmp_path, stderr=subprocess.DEVNULL, **env)
    try:
        await _up(base)
        headers = {"x-api-key": key}
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.post(base + "/webhooks", json={"url": receiver.url,
                                                        "types": ["call.*"]}) as r:
                hook = await r.json()
            queued = []
            for _ in range(BURST):
                async with s.post(base + f"/webhooks/{hook['id']}/test") as r:
                    queued.append((await r.json())["msg_id"])
        while len(receiver.got) < 20:  # mid-burst
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before_restart = len(receiver.ids())
        assert before_restart < BURST, "the burst finished before the kill: make it slower"
        proc = serve_process(tmp_path, stderr=subprocess.DEVNULL, **env)
        await _up(base)
        deadline = time.monotonic() + 60
        while not set(queued) <= receiver.ids():
            assert time.monotonic() < deadline, (
                f"{len(set(queued) - receiver.ids())} of {BURST} never arrived")
            await asyncio.sleep(0.1)
        verifier = Verifier(hook["secret"])
        for got in receiver.got:
            assert verifier.verify(got.body, got.headers)["type"] == "webhook.test"
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.get(base + f"/webhooks/{hook['id']}/deliveries?limit=500") as r:
                deliveries = await r.json()
        await asyncio.sleep(0.5)
        assert len(deliveries) == BURST and {d["msg_id"] for d in deliveries} == set(queued)
    finally:
        proc.kill()
        proc.wait(10)
        await receiver.stop()
