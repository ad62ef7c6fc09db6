"""PostgreSQL restarted as in a crash (pg_ctl stop -m immediate, then start) under call load,
with an event follower and a webhook: the API answers 503 "Database unavailable" within a second
meanwhile (no hang), /ready says so, and once it is back every call is in the call log once,
the follower has every event once and in order, the webhook got each of them once, and no
call's ending is announced twice.

The server is a durable one (synchronous_commit on, as an operator's): with the test suite's
fast settings a crash loses the last commits, and a webhook delivery recorded just before it
was rightly sent again after it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.asterisk.conftest import callbridge_on, calls_in_csv
from tests.conftest import eventually
from tests.pg import Cluster, engine, query
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.skipif(engine() != "postgresql", reason="PostgreSQL only: its server"
                                " restarted under load (the PostgreSQL pass runs it)")


async def _follow(api, events: list[dict]) -> None:
    """The account's events, resumed with after= whenever the stream drops."""
    after = None
    while True:
        url = "/events" + (f"?after={after}" if after is not None else "")
        try:
            async with api.client.ws_connect(url, headers={"x-api-key": api.keys["acme"]},
                                             heartbeat=2) as ws:
                async for msg in ws:
                    ev = msg.json()
                    if "id" in ev:
                        events.append(ev)
                        after = ev["id"]
        except Exception:  # noqa: BLE001 - the stream drops while the database is away
            pass
        await asyncio.sleep(0.2)


@pytest.mark.timeout(300)
async def test_postgresql_restarted_under_load_loses_and_doubles_nothing(running_pbx, tmp_path):
    pbx = running_pbx
    own = await asyncio.to_thread(Cluster, True)  # its own durable server, to crash
    receiver = await Receiver().start()
    follower = None
    try:
        url = own.new_database()
        async with callbridge_on(pbx, url, webhook_allow_private=True) as api:
            status, hook = await api.call("POST", "/webhooks",
                                          json={"url": receiver.url, "types": ["*"]})
            assert status == 201, hook
            events: list[dict] = []
            follower = asyncio.create_task(_follow(api, events))
            t0 = time.time()
            since = pbx.master_csv.stat().st_size if pbx.master_csv.exists() else 0
            load = await asyncio.to_thread(pbx.call_load, "5550007777", "309", calls=40,
                                           rate=2, talk_ms=1000)
            await asyncio.sleep(5)
            crashed = time.time()
            await asyncio.to_thread(own.server, "stop")  # -m immediate: as a crash
            for path in ("/contacts/contacts", "/call_log/records_after_timestamp?timestamp="
                         "2020-01-01%2000:00:00"):
                started = time.monotonic()
                status, body = await api.call("GET", path)
                assert status == 503 and body["error"] == "Database unavailable", body
                assert time.monotonic() - started < 1.0
            status, body = await api.call("GET", "/ready", account=None)
            assert status == 503 and body["database"] == "unreachable", body
            await asyncio.sleep(6)  # calls go on meanwhile
            await asyncio.to_thread(own.server, "start")
            back = time.time()
            await asyncio.to_thread(load.wait, 120)

            expected = calls_in_csv(pbx, since, lambda c: c["dst"] == "309")
            assert len(expected) >= 30

            async def all_logged() -> bool:
                rows = await asyncio.to_thread(
                    query, url, "SELECT linkedid, count(*) FROM call_log WHERE extension = '309'"
                                " GROUP BY linkedid")
                got = dict(rows)
                return expected <= set(got) and all(got[lid] == 1 for lid in expected)
            await eventually(all_logged, 90, "every call in the call log once", every=1)
            last = (await asyncio.to_thread(query, url, "SELECT max(id) FROM events"))[0][0]

            async def delivered() -> bool:
                return len(receiver.ids()) >= last and bool(events) and events[-1]["id"] >= last
            await eventually(delivered, 60, "every event at the follower and the webhook", every=1)
            ids = [e["id"] for e in events]
            assert ids == list(range(ids[0], ids[0] + len(ids))), ids[:40]  # once, in order
            sent = Counter(r.headers["webhook-id"] for r in receiver.got)
            assert len(sent) == last, (len(sent), last)  # every event reached the webhook
            twice = [msg for msg, n in sent.items() if n > 1]
            for msg in twice:  # what a failure shows: when each copy came, the delivery's row
                rows = await asyncio.to_thread(
                    query, url, "SELECT id, status, attempts, last_status, last_error, created_at,"
                                f" last_attempt_at FROM webhook_deliveries WHERE msg_id = '{msg}'")
                print(msg, [round(r.at - t0, 2) for r in receiver.got
                            if r.headers["webhook-id"] == msg], rows)
            assert not twice, (f"{len(twice)} of {last} sent twice; the crash at"
                               f" {crashed - t0:.2f} s, back at {back - t0:.2f} s")
            # every call's ending announced once for its extension
            ended = Counter((e["type"], e["data"]["call_id"], e["data"]["extension"])
                            for e in events if e["type"] in ("call.ended", "call.missed"))
            assert not ended or max(ended.values()) == 1, ended.most_common(3)
            ended_309 = {call for (kind, call, ext) in ended if kind == "call.ended" and ext == "309"}
            assert expected <= ended_309, sorted(expected - ended_309)
    finally:
        if follower is not None:
            follower.cancel()
        await receiver.stop()
        await asyncio.to_thread(own.stop)
