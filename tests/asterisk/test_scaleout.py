"""Two callbridge instances on one PostgreSQL database, beside the real Asterisk: the instance
reading the PBX (the lease holder) is killed with SIGKILL in the middle of a SIPp call load.
The other takes over within 5 s, and afterwards every call in Master.csv is in the call log
exactly once, every click-to-dial rang the far end once, and the event followers (one at each
instance; the killed one's resumes at the survivor with after=) saw every event id, in order,
no gap and no repeat. callbridge runs as the operator runs it (`callbridge serve`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from callbridge.calllog.cdr import from_csv_text
from tests.asterisk.pbx import free_port
from tests.pg import engine, fresh_database, query

pytestmark = [pytest.mark.skipif(engine() != "postgresql",
                                 reason="several instances need PostgreSQL (TEST_ENGINE)"),
              pytest.mark.timeout(420)]

LOAD_CALLS = 150
LOAD_RATE = 10  # new calls a second
TAKEOVER_LIMIT = 5.0


def _env(pbx, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env.update({"CALLBRIDGE_DATABASE": url, "CALLBRIDGE_AMI_PORT": str(pbx.ami_port),
                "CALLBRIDGE_AMI_USERNAME": pbx.ami_username, "CALLBRIDGE_AMI_SECRET": pbx.ami_secret,
                "CALLBRIDGE_CDR_CSV": str(pbx.master_csv),
                "CALLBRIDGE_CALLERID_TOKEN": pbx.callerid_token,
                "CALLBRIDGE_AMI_PING_INTERVAL": "0.5", "CALLBRIDGE_AMI_RECONNECT_MAX": "1",
                "CALLBRIDGE_RATE_LIMIT": "100000/15m", "CALLBRIDGE_LOG_LEVEL": "WARNING"})
    return env


def _cli(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "callbridge", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Instance:
    def __init__(self, name: str, env: dict, port: int, log: Path):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "callbridge", "serve"],
                                     env={**env, "CALLBRIDGE_PORT": str(port)},
                                     stdout=subprocess.DEVNULL, stderr=log.open("ab"))

    async def status(self, s: aiohttp.ClientSession) -> dict:
        async with s.get(self.base + "/status") as r:
            return await r.json()

    async def ingesting(self, s: aiohttp.ClientSession) -> bool:
        try:
            detail = (await self.status(s))["services"]["dialer"]["detail"]
        except (aiohttp.ClientError, KeyError):
            return False
        return detail.get("ami") == "online" and detail["ingest"]["held"]


class Follower:
    """A WebSocket event stream, resumed at another instance when its own dies."""

    def __init__(self, s: aiohttp.ClientSession, key: str):
        self.s, self.key = s, key
        self.events: list[dict] = []
        self.resumed = 0

    async def follow(self, instances: list[Instance]) -> None:
        after = None
        while True:
            for inst in instances:
                if inst.proc.poll() is not None:
                    continue
                url = inst.base + "/events" + (f"?after={after}" if after is not None else "")
                try:
                    async with self.s.ws_connect(url, headers={"x-api-key": self.key},
                                                 heartbeat=2) as ws:
                        async for msg in ws:
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                break
                            ev = msg.json()
                            if "id" in ev:
                                self.events.append(ev)
                                after = ev["id"]
                except (aiohttp.ClientError, OSError):
                    pass
                self.resumed += 1
                after = after if after is not None else 0
            await asyncio.sleep(0.2)

    def ids(self) -> list[int]:
        return [e["id"] for e in self.events]


async def _until(what: str, predicate, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(step)


async def test_killing_the_ingesting_instance_under_load_loses_and_doubles_nothing(
        running_pbx, tmp_path):
    pbx = running_pbx
    url = fresh_database(tmp_path, "cb.db")
    env = _env(pbx, url)
    _cli(env, "extensions", "add", "--account", "acme", "309")
    key = _cli(env, "keys", "create", "--account", "acme").strip().splitlines()[-1]
    csv_before = pbx.master_csv.stat().st_size if pbx.master_csv.exists() else 0
    # a: on the port the dialplan asks for caller names; b: another
    a = Instance("a", env, pbx.callbridge_port, tmp_path / "a.log")
    b = Instance("b", env, free_port(), tmp_path / "b.log")
    instances = [a, b]
    caller = f"1555{uuid.uuid4().int % 10**7:07d}"
    dialed: list[str] = []
    async with aiohttp.ClientSession(headers={"x-api-key": key}) as s:
        try:
            async def both_up():
                for inst in instances:
                    try:
                        st = await inst.status(s)
                    except aiohttp.ClientError:
                        return False
                    if st["services"]["dialer"]["detail"].get("ami") != "online":
                        return False
                return True
            await _until("both instances up, AMI online", both_up, 30)
            leader = await _until("a lease holder", lambda: _holder(s, instances), 10)
            other = b if leader is a else a
            followers = [Follower(s, key), Follower(s, key)]
            tasks = [asyncio.create_task(followers[0].follow([leader, other])),
                     asyncio.create_task(followers[1].follow([other]))]
            await asyncio.sleep(0.5)  # both streams open

            async def click(inst: Instance) -> None:
                number = f"1777{uuid.uuid4().int % 10**7:07d}"
                async with s.post(inst.base + "/dialer/call", headers={"x-api-key": key},
                                  json={"extension": "309", "phonenumber": number}) as r:
                    assert r.status == 200, await r.text()
                dialed.append(number)

            load = pbx.call_load(caller, "309", calls=LOAD_CALLS, rate=LOAD_RATE, talk_ms=1000)
            for inst in (leader, other, leader, other):
                await click(inst)
                await asyncio.sleep(1.0)
            await asyncio.sleep(LOAD_CALLS / LOAD_RATE / 3)  # about a third of the load started
            leader.proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            leader.proc.wait(10)
            await _until("the survivor taking the node over", lambda: other.ingesting(s),
                         TAKEOVER_LIMIT + 5, step=0.05)
            takeover = time.monotonic() - killed_at
            for _ in range(3):
                await click(other)
                await asyncio.sleep(1.0)
            assert await asyncio.to_thread(load.wait, 300) == 0, "SIPp: not every call completed"

            # every call Master.csv got during the test, once in the call log
            def calls_in_csv() -> set[str]:
                with pbx.master_csv.open(encoding="utf-8", errors="replace") as f:
                    f.seek(csv_before)
                    cdrs = from_csv_text(f.read())
                return {c["linkedid"] for c in cdrs
                        if c["src"] == caller or c["dst"] in dialed}

            expected: set[str] = set()

            async def all_logged():
                nonlocal expected
                expected = calls_in_csv()
                rows = await asyncio.to_thread(
                    query, url, "SELECT linkedid, count(*) FROM call_log WHERE extension = '309'"
                                " GROUP BY linkedid")
                got = dict(rows)
                return (len(expected) == LOAD_CALLS + len(dialed)
                        and all(got.get(lid) for lid in expected))
            await _until("every call of Master.csv in the call log", all_logged, 90, step=1)
            await asyncio.sleep(2)  # anything stored twice would show now
            counts = dict(await asyncio.to_thread(
                query, url, "SELECT linkedid, count(*) FROM call_log WHERE extension = '309'"
                            " GROUP BY linkedid"))
            twice = {lid: n for lid, n in counts.items() if lid in expected and n != 1}
            assert not twice, twice

            # every click-to-dial rang the far end once
            invites = pbx.phones["trunk"].invites()
            far_end = {n: sum(n in inv for inv in invites) for n in dialed}
            assert len(dialed) == 7 and set(far_end.values()) == {1}, far_end

            # the followers: every id once, in order, from their first; every call ended
            await asyncio.sleep(1)
            for f in followers:
                ids = f.ids()
                assert ids and ids == list(range(ids[0], ids[0] + len(ids))), ids[:50]
                ended = Counter(e["data"]["call_id"] for e in f.events if e["type"] == "call.ended")
                assert expected <= set(ended), len(expected - set(ended))
                # one instance at a time turned the PBX's events into events: none twice
                rang = Counter(e["data"]["call_id"] for e in f.events if e["type"] == "call.ringing")
                assert max(ended.values()) == 1 and max(rang.values()) == 1, (
                    ended.most_common(2), rang.most_common(2))
            assert followers[0].resumed >= 1  # the killed instance's follower moved over
            print(f"takeover {takeover:.2f} s; {len(expected)} calls; events"
                  f" {len(followers[1].events)}")
            assert takeover < TAKEOVER_LIMIT, takeover
            for t in tasks:
                t.cancel()
        finally:
            for inst in instances:
                if inst.proc.poll() is None:
                    inst.proc.terminate()
                    inst.proc.wait(20)


async def _holder(s: aiohttp.ClientSession, instances: list[Instance]) -> Instance | None:
    for inst in instances:
        if await inst.ingesting(s):
            return inst
    return None
