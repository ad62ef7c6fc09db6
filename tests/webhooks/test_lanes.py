"""One slow or failing webhook endpoint holds up no other, keeps nothing waiting in memory, and
no delivery is sent twice (callbridge.webhooks.sender's lanes)."""

from __future__ import annotations

import asyncio
import time

from callbridge.webhooks import routes as webhook_routes
from callbridge.webhooks import sender as sender_module
from tests.conftest import eventually, sqlite_only
from tests.events.test_stream import inbound_call_rings
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import hooks_api  # noqa: F401 - the fixture

CALLS = 60


async def _hook(api, url: str) -> dict:
    status, hook = await api.call("POST", "/webhooks", json={"url": url, "types": ["call.*"]})
    assert status == 201, hook
    return hook


async def test_a_slow_and_a_failing_endpoint_hold_up_no_healthy_one(hooks_api):
    """The soak's three endpoints on one account: one answering 500 always, one taking 2 s, one
    answering at once. Measured before the lanes: the healthy one lagged by minutes, and the
    sender held every due delivery of the others as waiting tasks."""
    api = hooks_api
    sender = api.app[webhook_routes.SENDER]
    sender.backoff = (0.05,) * 7  # the failing endpoint retries as fast as it can
    failing = await Receiver(status=500).start()
    slow = await Receiver(delay=2.0).start()
    healthy = await Receiver().start()
    try:
        for r in (failing, slow, healthy):
            await _hook(api, r.url)
        most_in_flight = 0
        started = time.monotonic()
        for n in range(CALLS):
            inbound_call_rings(api.app, lid=f"1700000100.{n}")
            most_in_flight = max(most_in_flight, sender.in_flight)
            await asyncio.sleep(0.01)

        def healthy_has_all() -> bool:
            nonlocal most_in_flight
            most_in_flight = max(most_in_flight, sender.in_flight)
            return len(healthy.got) >= CALLS
        # the slow endpoint needs 30 s for its 60 (4 at a time, 2 s each): the healthy one is
        # done long before, whatever the machine's load (a 5 s bound failed by 10 ms on CI)
        await eventually(healthy_has_all, 15.0, "every event at the healthy endpoint")
        took = time.monotonic() - started
        # each event once, though the other two are still busy with theirs
        assert len(healthy.ids()) == len(healthy.got) == CALLS
        assert len(slow.got) < CALLS, (took, len(slow.got))
        # nothing waits in memory: the slow and the failing endpoint fill their own lanes only
        assert most_in_flight <= 3 * sender_module.PER_ENDPOINT
    finally:
        for r in (failing, slow, healthy):
            await r.stop()


@sqlite_only("on PostgreSQL the claim moves a delivery's due time ahead as it is sent: no read"
             " can see it pending meanwhile")
async def test_a_read_of_the_outbox_racing_a_finished_send_does_not_send_it_again(hooks_api):
    """A pass's read of due deliveries can predate the answer of a send that finishes meanwhile:
    the delivery looks pending in what the read returns. It was sent a second time."""
    api = hooks_api
    sender = api.app[webhook_routes.SENDER]
    receiver = await Receiver(delay=0.3).start()
    try:
        await _hook(api, receiver.url)
        store = sender.store
        real_due = store.due
        raced = asyncio.Event()

        async def due_then_lag(*args):
            rows = await real_due(*args)
            if rows and receiver.got and not raced.is_set():
                # the read saw the delivery pending while it was in flight; its answer comes in
                # before the read returns
                raced.set()
                await eventually(lambda: not sender._lanes, 5.0, "the send finished")
            return rows
        store.due = due_then_lag
        inbound_call_rings(api.app)
        await eventually(lambda: receiver.got, 5.0, "the delivery")
        sender.wake()  # a pass while the send is in flight
        await eventually(raced.is_set, 5.0, "a read racing the send")
        await asyncio.sleep(0.5)
        assert len(receiver.got) == 1
        listed = (await api.ok("GET", "/webhooks"))[0]
        d = (await api.ok("GET", f"/webhooks/{listed['id']}/deliveries"))[0]
        assert d["status"] == "delivered" and d["attempts"] == 1
    finally:
        await receiver.stop()


async def test_a_pass_sends_at_once_what_it_read_beyond_a_lanes_free_places(hooks_api):
    """A pass reads up to PER_ENDPOINT due deliveries of an endpoint whose lane is partly busy;
    it can send only the free places' worth. On PostgreSQL the read claims what it returns (its
    next attempt moved CLAIM_SECONDS ahead): the rest sat claimed and unsent for 15 s (CI's
    PostgreSQL pass missed its bound by it), where they must go as soon as places free up."""
    api = hooks_api
    receiver = await Receiver(delay=0.4).start()
    try:
        await _hook(api, receiver.url)
        inbound_call_rings(api.app, lid="1700000200.1")
        inbound_call_rings(api.app, lid="1700000200.2")
        await eventually(lambda: len(receiver.got) >= 2, 5.0, "the first two in flight")
        for n in range(3, 3 + sender_module.PER_ENDPOINT):
            inbound_call_rings(api.app, lid=f"1700000200.{n}")
        total = 2 + sender_module.PER_ENDPOINT
        # 0.4 s per answer, 4 at a time: about 1.2 s for all; 15 s when the extras wait out a claim
        await eventually(lambda: len(receiver.got) >= total, 5.0, "every event sent")
        assert len(receiver.ids()) == total
    finally:
        await receiver.stop()
