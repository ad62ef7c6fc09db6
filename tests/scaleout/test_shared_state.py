"""What one process kept in memory, shared by the instances through PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import asyncpg
import pytest

from callbridge.admin.routes import EXTENSIONS
from callbridge.app import DATABASE
from callbridge.callerid.routes import SERVICE as CALLERID
from callbridge.contacts.routes import SERVICE as CONTACTS
from callbridge.db.coordination import RateWindowRows
from callbridge.dialer.routes import SERVICE as DIALER
from callbridge.events.journal import draft
from callbridge.events.routes import SERVICE as EVENTS
from callbridge.web import middleware as mw
from tests.conftest import eventually
from tests.events.test_stream import next_event
from tests.scaleout.conftest import pytestmark  # noqa: F401 - PostgreSQL runs only
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import wait_for


async def test_the_rate_limit_is_one_window_for_all_instances(instances):
    a, b = await instances(2, rate_limit="6/1m")
    statuses = []
    for api in (a, b, a, b, a, b, a, b):  # a limit of 6 a minute, across both
        statuses.append((await api.call("GET", "/contacts/groups"))[0])
    assert statuses == [200] * 6 + [429, 429]
    # another key has its own window at both
    assert (await b.call("GET", "/contacts/groups", account="globex"))[0] == 200


async def test_a_ticket_issued_by_one_instance_opens_a_stream_at_the_other(two):
    a, b = two
    ticket = (await a.ok("POST", "/events/ticket"))["ticket"]
    async with b.client.get(f"/events?ticket={ticket}",
                            headers={"Accept": "text/event-stream"}) as resp:
        assert resp.status == 200
    again = await b.client.get(f"/events?ticket={ticket}", headers={"Accept": "text/event-stream"})
    assert again.status == 403  # used up, at whichever instance


async def test_each_webhook_delivery_is_sent_by_one_instance(two):
    a, b = two
    receiver = await Receiver(delay=0.05).start()
    try:
        status, hook = await a.call("POST", "/webhooks", json={"url": receiver.url,
                                                              "types": ["call.*"]})
        assert status == 201, hook
        queued = []
        for i in range(40):
            api = a if i % 2 else b
            status, body = await api.call("POST", f"/webhooks/{hook['id']}/test", account="acme")
            assert status in (200, 202), body
            queued.append(body["msg_id"])
        await wait_for(lambda: set(queued) <= receiver.ids(), timeout=20, what="every delivery")
        await asyncio.sleep(0.5)  # anything sent twice would have arrived by now
        sent = Counter(got.headers["webhook-id"] for got in receiver.got)
        assert set(sent) == set(queued) and max(sent.values()) == 1, sent.most_common(3)
    finally:
        await receiver.stop()


async def test_events_stored_by_either_instance_reach_followers_of_both_in_order(two):
    """A follower at each instance; both instances store events (a's calls, since a holds the
    node's lease, and b's own, as b's click-to-dial progress would be): each follower gets
    every event, ids 1..n in order, no gap and no repeat, whichever instance stored them."""
    a, b = two
    await a.app[EXTENSIONS].add("acme", "309")
    account_id = (await a.app[mw.ACCOUNT].store.find_account("acme")).id
    followers = [await api.client.ws_connect("/events", headers={"x-api-key": api.keys["acme"]})
                 for api in (a, b)]
    try:
        for i in range(30):
            journal = (a if i % 2 else b).app[EVENTS].journal
            journal.emit(draft(account_id, "dial.progress", {"call_id": f"c{i}", "state": "ringing"},
                               extension="309"))
            if i % 7 == 0:
                await asyncio.sleep(0.01)
        for ws in followers:
            got = [await next_event(ws) for _ in range(30)]
            assert [e["id"] for e in got] == list(range(1, 31))
            assert sorted(e["data"]["call_id"] for e in got) == sorted(f"c{i}" for i in range(30))
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.3)
    finally:
        for ws in followers:
            await ws.close()


async def test_a_contact_changed_at_one_instance_names_callers_at_the_other_within_a_second(two):
    """Caller ID at b answers from b's lookup cache; a contact created, renamed and deleted
    through a is what b's next lookups say, within a second each time."""
    a, b = two
    await a.app[EXTENSIONS].add("acme", "309")
    await b.app[EXTENSIONS].load()
    service = b.app[CALLERID]

    async def b_says() -> str:
        return await service.name_for("309", "+1 212 555 0142")

    async def within_a_second(expected: str) -> None:
        deadline = time.monotonic() + 1.0
        while (said := await b_says()) != expected:
            assert time.monotonic() < deadline, f"b still says {said!r}, not {expected!r}"
            await asyncio.sleep(0.01)

    assert await b_says() == ""  # cached at b: nobody holds the number
    assert await b_says() == "" and b.app[CONTACTS].cache.hits >= 1
    created = await a.ok("POST", "/contacts/contacts",
                         json={"firstname": "Ada", "lastname": "Lovelace",
                               "phone_numbers": ["(212) 555-0142"]})
    await within_a_second("Ada Lovelace")
    await a.ok("PUT", f"/contacts/contacts/{created['uuid']}", json={"firstname": "Augusta"})
    await within_a_second("Augusta Lovelace")
    await a.ok("DELETE", f"/contacts/contacts/{created['uuid']}")
    await within_a_second("")


async def test_text_postgresql_cannot_store_is_a_400_not_a_500(two):
    a, _ = two
    status, body = await a.call("GET", "/contacts/contacts/external/a%00b")
    assert status == 400 and body["error"] == "Invalid text", body
    status, body = await a.call("POST", "/contacts/contacts", json={"firstname": "Nul\u0000"})
    assert status == 400 and body["error"], body


async def test_a_database_out_of_reach_is_a_503_and_the_next_request_after_it_works(two, free_port):
    a, _ = two
    db = a.app[DATABASE]
    working = db._pool
    # a pool whose database is gone (nothing listens there): connections are refused
    db._pool = await asyncpg.create_pool(f"postgresql://nobody@127.0.0.1:{free_port()}/gone",
                                         min_size=0, max_size=1)
    try:
        status, body = await a.call("GET", "/contacts/contacts/external/x")
        assert status == 503 and body["error"] == "Database unavailable", body
        status, body = await a.call("POST", "/contacts/contacts", json={"firstname": "Ann"})
        assert status == 503, body
    finally:
        await db._pool.close()
        db._pool = working
    assert (await a.call("POST", "/contacts/contacts", json={"firstname": "Ann"}))[0] == 200


async def test_a_click_to_dials_progress_is_answered_by_any_instance(two):
    """GET /dialer/calls/{id} at b for a call a dialled: from the journal's dial.progress."""
    a, b = two
    await a.app[EXTENSIONS].add("acme", "309")
    account_id = (await a.app[mw.ACCOUNT].store.find_account("acme")).id
    call_id = str(uuid.uuid4())
    tracker = a.app[DIALER].tracker  # what a's dialer does for a click it sends
    tracker.start(call_id, account_id, "309", "+15808675309")
    await a.app[EVENTS].journal.flush()
    here = await a.ok("GET", f"/dialer/calls/{call_id}")
    there = await b.ok("GET", f"/dialer/calls/{call_id}")
    assert there == here and there["state"] == "queued" and there["extension"] == "309"
    assert (await b.call("GET", f"/dialer/calls/{uuid.uuid4()}"))[0] == 404
    assert (await b.call("GET", f"/dialer/calls/{call_id}", account="globex"))[0] == 404


async def test_two_instances_racing_to_create_the_same_thing_give_a_409_not_a_500(two):
    """Each instance checks "is the name free?" under its own write lock; two instances can
    both see it free. The loser's insert meets the unique constraint: a 409."""
    a, b = two
    for attempt in range(5):
        name = f"Team {attempt}"
        got = await asyncio.gather(
            a.call("POST", "/contacts/groups", json={"name": name}),
            b.call("POST", "/contacts/groups", json={"name": name}))
        assert sorted(status for status, _ in got) == [200, 409], got


async def test_one_instance_at_a_time_says_it_reads_each_node_and_the_other_takes_over(instances):
    from tests.system.test_metrics import samples
    nodes = ("east=ami://cb:secret-east-1234@127.0.0.1:9/ "
             "west=ami://cb:secret-west-1234@127.0.0.1:19/")
    a, b = await instances(2, ami=nodes)

    async def ingesting(api) -> dict[str, float]:
        m = samples(await (await api.client.get("/metrics")).text())
        return {n: m[("callbridge_ami_ingesting", (("node", n),))] for n in ("east", "west")}

    async def each_read_once() -> tuple[dict, dict] | None:
        got = await ingesting(a), await ingesting(b)
        return got if all(got[0][n] + got[1][n] == 1 for n in ("east", "west")) else None
    got_a, _ = await eventually(each_read_once, 5, "each node read by one instance", every=0.1)
    holder, other = (a, b) if got_a["east"] else (b, a)
    await holder.client.close()  # a clean stop gives its leases up: the other needn't wait 3 s

    async def other_reads_both() -> bool:
        return await ingesting(other) == {"east": 1, "west": 1}
    await eventually(other_reads_both, 2, "the stopped instance's leases taken over", every=0.1)


async def test_the_pool_holds_as_many_connections_as_the_setting_says(instances):
    (a,) = await instances(1, database_pool_size=3)
    pool = a.app[DATABASE]._pool
    assert pool.get_max_size() == 3
    # ten requests at once share those three connections, and all are answered
    results = await asyncio.gather(*(a.call("GET", "/contacts/contacts") for _ in range(10)))
    assert [status for status, _ in results] == [200] * 10
    assert pool.get_size() <= 3


async def test_a_client_over_its_limit_is_refused_from_memory_until_its_window_ends(two):
    from callbridge.web.ratelimit import SharedWindowLimiter
    a, b = two
    now = [1_000_020.0]  # inside the window [1_000_020, 1_000_080) of a 60 s limit
    at_a = SharedWindowLimiter(RateWindowRows(a.app[DATABASE]), 3, 60, clock=lambda: now[0])
    at_b = SharedWindowLimiter(RateWindowRows(b.app[DATABASE]), 3, 60, clock=lambda: now[0])

    async def hits() -> int:
        return await a.app[DATABASE].pool.fetchval(
            "SELECT hits FROM rate_windows WHERE client = 'key:flood' AND window_index = $1",
            int(now[0] // 60))

    verdicts = [await at_a.admit("key:flood") for _ in range(10)]
    assert [v.allowed for v in verdicts] == [True] * 3 + [False] * 7
    assert [v.remaining for v in verdicts] == [2, 1, 0] + [0] * 7
    assert 0 < verdicts[-1].reset_after <= 60 and at_a.rejected == 7
    assert await hits() == 4  # the first refusal was counted; the six after it never asked
    assert not (await at_b.admit("key:flood")).allowed  # the other instance: the same window
    now[0] += 60  # the next window: asked again, and allowed
    assert (await at_a.admit("key:flood")).allowed and await hits() == 1


async def window_hits(api, client: str) -> int:
    return await api.app[DATABASE].pool.fetchval(
        "SELECT coalesce(sum(hits), 0) FROM rate_windows WHERE client = $1", client)


async def test_far_from_its_limit_a_client_is_counted_in_memory_and_synced_in_batches(two):
    from callbridge.web.ratelimit import SharedWindowLimiter
    a, _ = two
    limiter = SharedWindowLimiter(RateWindowRows(a.app[DATABASE]), 100_000, 900)
    verdicts = [await limiter.admit("key:busy") for _ in range(500)]
    assert all(v.allowed for v in verdicts) and verdicts[-1].remaining == 100_000 - 500
    assert await window_hits(a, "key:busy") < 500  # not an upsert per request
    await asyncio.sleep(limiter.SYNC_SECONDS * 3)
    assert await window_hits(a, "key:busy") == 500  # all of them, within a sync
    for _ in range(50):
        await limiter.admit("key:busy")
    await limiter.close()  # a stopping instance adds what it admitted from memory
    assert await window_hits(a, "key:busy") == 550


async def test_a_burst_through_two_instances_overshoots_the_limit_by_at_most_one_percent(two):
    from callbridge.web.ratelimit import SharedWindowLimiter
    a, b = two
    at = [SharedWindowLimiter(RateWindowRows(api.app[DATABASE]), 1000, 900) for api in (a, b)]
    allowed = 0
    for i in range(3000):  # alternating, as fast as the instances answer
        allowed += (await at[i % 2].admit("key:burst")).allowed
    assert 1000 <= allowed <= 1000 + 10
    for limiter in at:
        await limiter.close()


async def test_an_extension_added_at_one_instance_is_known_at_the_other_at_once(instances,
                                                                                 monkeypatch):
    """PostgreSQL announces a directory change at its commit: b knows a's new extension well
    before its once-a-second poll (turned off here) would have read it."""
    from callbridge.accounts.store import ExtensionDirectory
    monkeypatch.setattr(ExtensionDirectory, "POLL_SECONDS", 3600.0)
    a, b = await instances(2)
    await a.app[EXTENSIONS].add("acme", "412")
    known = await eventually(lambda: b.app[EXTENSIONS].owner("412"), 0.5, "b knows extension 412")
    assert known.account == "acme"
    await a.app[EXTENSIONS].remove("412")
    await eventually(lambda: b.app[EXTENSIONS].owner("412") is None, 0.5,
                     "b forgets extension 412")


async def test_nodes_spread_over_the_instances_and_move_when_one_joins_or_leaves(instances):
    """Four nodes: one instance reads all four; a second takes half within seconds (the first
    gives up what is over its share); a third leaves each at most ceil(4/3) = 2; when one stops,
    the others share its nodes again. Every node is read by exactly one instance throughout the
    settled states."""

    async def spread(apis, most: int):
        """Each node read once, nobody above `most` nodes: the per-instance sets, or None."""
        got = [await _reading(api) for api in apis]
        every = sorted(n for s in got for n in s)
        return got if every == sorted(FOUR) and max(map(len, got)) <= most else None

    (a,) = await instances(1, ami=FOUR_NODES)
    await eventually(lambda: spread([a], 4), 5, "one instance reads all four", every=0.1)
    (b,) = await instances(1, ami=FOUR_NODES)
    got = await eventually(lambda: spread([a, b], 2), 10, "two instances, two nodes each",
                           every=0.2)
    assert [len(s) for s in got] == [2, 2]
    (c,) = await instances(1, ami=FOUR_NODES)
    got = await eventually(lambda: spread([a, b, c], 2), 10, "three instances, at most two each",
                           every=0.2)
    status = await (await c.client.get("/status", headers={"x-api-key": c.keys["acme"]})).json()
    assert "share" in json.dumps(status), status
    await a.client.close()  # a clean stop: its nodes are the others' within seconds
    await eventually(lambda: spread([b, c], 2), 10, "the two left, two nodes each", every=0.2)


async def test_a_node_an_instance_prefers_is_read_by_it_whenever_it_runs(instances):
    """CALLBRIDGE_PREFER_NODES: an instance started later with n1,n4 gets both from the one
    reading all four; the nodes nobody prefers stay spread; stopped, its nodes go back."""

    (a,) = await instances(1, ami=FOUR_NODES)
    await eventually(lambda: _reads(a, set(FOUR)), 5, "a reads all four", every=0.1)
    (b,) = await instances(1, ami=FOUR_NODES, prefer_nodes="n1,n4")

    async def preferred() -> bool:
        return await _reading(b) == {"n1", "n4"} and await _reading(a) == {"n2", "n3"}
    await eventually(preferred, 10, "b reads n1 and n4, a the rest", every=0.2)
    await b.client.close()
    await eventually(lambda: _reads(a, set(FOUR)), 10, "a reads all four again",
                     every=0.2)


# four nodes no instance can reach (nothing listens there): leases and the spread only
FOUR = ("n1", "n2", "n3", "n4")
FOUR_NODES = " ".join(f"{n}=ami://cb:secret-{n}-1234@127.0.0.1:{9 + i}/"
                      for i, n in enumerate(FOUR))


async def _reading(api) -> set[str]:
    """The nodes an instance reads, as its /metrics say."""
    from tests.system.test_metrics import samples
    m = samples(await (await api.client.get("/metrics")).text())
    return {n for n in FOUR if m[("callbridge_ami_ingesting", (("node", n),))] == 1}


async def _reads(api, nodes: set[str]) -> bool:
    return await _reading(api) == nodes


def test_a_preferred_node_must_be_a_configured_one(tmp_path):
    from callbridge.settings import ConfigError, Settings
    settings = Settings(database=str(tmp_path / "x.db"), prefer_nodes="n9",
                        ami="n1=ami://cb:secret-n1-1234@127.0.0.1:9/")
    with pytest.raises(ConfigError, match="CALLBRIDGE_PREFER_NODES: no node 'n9'"):
        settings.preferred_nodes()
