"""Webhooks: per-account subscriptions, Standard Webhooks signatures checked with the reference
package, a durable outbox with retries and disabling, and the SSRF guard."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks import Webhook as Verifier

from callbridge.app import create_app
from callbridge.dialer import routes as dialer_routes
from callbridge.web import middleware as mw
from callbridge.webhooks import routes as webhook_routes
from tests.conftest import Api, eventually, make_settings
from tests.events.test_stream import inbound_call_rings
from tests.webhooks.receiver import Receiver


async def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def recorded(api, hook: dict, done) -> list[dict]:
    """The endpoint's deliveries once the newest satisfies done (the sender records an answer
    just after the receiver has it)."""
    async def deliveries() -> list[dict] | None:
        listed = await api.ok("GET", f"/webhooks/{hook['id']}/deliveries")
        return listed if listed and done(listed[0]) else None
    return await eventually(deliveries, 5.0, "the delivery recorded")


@pytest.fixture
async def hooks_api(tmp_path):
    app = create_app(make_settings(tmp_path, webhook_allow_private=True))
    async with TestClient(TestServer(app)) as client:
        accounts = app[mw.ACCOUNT]
        keys = {n: (await accounts.create_key(n))[1] for n in ("acme", "globex")}
        await app[dialer_routes.SERVICE].extensions.add("acme", "309")
        yield Api(client, keys, app)


@pytest.fixture
async def receiver():
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_events_arrive_signed_per_the_standard(hooks_api, receiver):
    api = hooks_api
    created = await api.call("POST", "/webhooks", json={"url": receiver.url, "types": ["call.*"]})
    assert created[0] == 201, created
    hook = created[1]
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    inbound_call_rings(api.app)
    await wait_for(lambda: receiver.got, what="a delivery")
    got = receiver.got[0]
    verified = Verifier(hook["secret"]).verify(got.body, got.headers)  # raises when wrong
    assert verified["type"] == "call.ringing" and verified["data"]["extension"] == "309"
    assert got.headers["webhook-id"] == f"evt_1_{verified['id']}"
    assert got.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception):  # another secret does not verify
        Verifier("whsec_" + "A" * 32).verify(got.body, got.headers)
    # listed without its secret; deliveries say delivered
    listed = await api.ok("GET", "/webhooks")
    assert listed == [{k: v for k, v in hook.items() if k != "secret"}]
    deliveries = await recorded(api, hook, lambda d: d["status"] == "delivered")
    assert deliveries[0]["msg_id"] == got.headers["webhook-id"]
    assert deliveries[0]["status"] == "delivered" and deliveries[0]["last_status"] == 200


async def test_types_filter_and_accounts_are_isolated(hooks_api, receiver):
    api = hooks_api
    hook = (await api.call("POST", "/webhooks", json={"url": receiver.url,
                                                       "types": ["call.answered"]}))[1]
    other = await Receiver().start()
    try:
        await api.call("POST", "/webhooks", json={"url": other.url, "types": ["call.*"]},
                       account="globex")
        inbound_call_rings(api.app)  # acme's extension: call.ringing only, no answer yet
        await asyncio.sleep(0.3)
        assert receiver.got == [] and other.got == []
        assert await api.ok("GET", "/webhooks", account="globex") != []
        status, body = await api.call("DELETE", f"/webhooks/{hook['id']}", account="globex")
        assert status == 404 and body["error"] == "Webhook not found"
        status, _ = await api.call("GET", f"/webhooks/{hook['id']}/deliveries", account="globex")
        assert status == 404
    finally:
        await other.stop()


async def test_test_delivery_and_delete(hooks_api, receiver):
    api = hooks_api
    hook = (await api.call("POST", "/webhooks", json={"url": receiver.url, "types": ["call.*"]}))[1]
    queued = await api.ok("POST", f"/webhooks/{hook['id']}/test")
    await wait_for(lambda: receiver.got, what="the test delivery")
    body = Verifier(hook["secret"]).verify(receiver.got[0].body, receiver.got[0].headers)
    assert body["type"] == "webhook.test" and receiver.got[0].headers["webhook-id"] == queued["msg_id"]
    assert (await api.ok("DELETE", f"/webhooks/{hook['id']}"))["deleted"] is True
    assert await api.ok("GET", "/webhooks") == []


async def test_bad_webhooks_are_refused(hooks_api):
    api = hooks_api
    for body, field in (({"url": "ftp://example.com/x", "types": ["call.*"]}, "url"),
                        ({"url": "http://user:pw@example.com/x", "types": ["call.*"]}, "url"),
                        ({"url": "http://example.com/x", "types": ["calls.*"]}, "types"),
                        ({"url": "http://example.com/x", "types": []}, "types"),
                        ({"url": "http://example.com/x"}, "types")):
        status, resp = await api.call("POST", "/webhooks", json=body)
        assert status == 400 and resp["field"] == field, (body, resp)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://10.1.2.3/x",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
                                 "http://localhost/x", "http://[::ffff:127.0.0.1]/x"])
async def test_private_targets_are_refused_unless_allowed(api, url):
    status, body = await api.call("POST", "/webhooks", json={"url": url, "types": ["call.*"]})
    assert status == 400 and body["error"] == "Webhook URL not allowed", body
    assert "CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE" in body["message"]


async def test_redirects_are_not_followed_and_bodies_are_capped(hooks_api, receiver):
    api = hooks_api
    receiver.location = f"http://127.0.0.1:{receiver.port}/elsewhere"
    hook = (await api.call("POST", "/webhooks", json={"url": receiver.url, "types": ["call.*"]}))[1]
    await api.ok("POST", f"/webhooks/{hook['id']}/test")
    await wait_for(lambda: receiver.got, what="a try")
    d = (await recorded(api, hook, lambda d: d["last_status"] is not None))[0]
    await asyncio.sleep(0.2)
    assert len(receiver.got) == 1  # /elsewhere never asked
    assert d["status"] == "pending" and d["attempts"] == 1 and d["last_status"] == 302
    assert "redirects are not followed" in d["last_error"]
    receiver.location = None
    receiver.status = 500
    await api.ok("POST", f"/webhooks/{hook['id']}/test")
    await wait_for(lambda: len(receiver.got) == 2, what="the second try")
    d = (await recorded(api, hook, lambda d: d["last_status"] not in (None, 302)))[0]
    assert d["last_status"] == 500 and len(d["last_response"]) == 1024


async def test_retries_keep_the_id_then_a_dead_endpoint_is_disabled(hooks_api, receiver):
    api = hooks_api
    # the schedule shortened (the real one spans ~27 h): three retries 50 ms apart
    api.app[webhook_routes.SENDER].backoff = (0.05, 0.05, 0.05)
    receiver.status = 503
    hook = (await api.call("POST", "/webhooks", json={"url": receiver.url, "types": ["call.*"]}))[1]
    inbound_call_rings(api.app)
    await wait_for(lambda: len(receiver.got) >= 4, what="four tries")
    await asyncio.sleep(0.3)
    assert len(receiver.got) == 4 and len(receiver.ids()) == 1  # the same webhook-id each time
    listed = (await api.ok("GET", "/webhooks"))[0]
    assert listed["enabled"] is False and "failed" in listed["disabled_reason"]
    d = (await api.ok("GET", f"/webhooks/{hook['id']}/deliveries"))[0]
    assert d["status"] == "failed" and d["attempts"] == 4
    inbound_call_rings(api.app, lid="9.9")  # a disabled endpoint gets nothing new
    await asyncio.sleep(0.3)
    assert len(receiver.got) == 4
    status, body = await api.call("POST", f"/webhooks/{hook['id']}/test")
    assert status == 409 and body["error"] == "Webhook disabled"
    # fixed: turned back on, the next event reaches it
    receiver.status = 200
    enabled = await api.ok("POST", f"/webhooks/{hook['id']}/enable")
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    inbound_call_rings(api.app, lid="9.10")
    await wait_for(lambda: len(receiver.got) == 5, what="a delivery after enabling")
    assert (await api.call("POST", f"/webhooks/{hook['id']}/enable", account="globex"))[0] == 404

