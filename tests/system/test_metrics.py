"""GET /metrics: Prometheus text with HTTP requests by route and status, latency, AMI link state,
originates by result, rate-limit rejections, event-stream clients; optional bearer token."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from callbridge.app import create_app
from callbridge.web import middleware as mw
from tests.conftest import make_settings


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_count_requests_originates_and_rejections(tmp_path):
    app = create_app(make_settings(tmp_path, rate_limit="3/15m"))
    async with TestClient(TestServer(app)) as client:
        key = (await app[mw.ACCOUNT].create_key("acme"))[1]
        h = {"x-api-key": key}
        assert (await client.get("/contacts/contacts", headers=h)).status == 200
        r = await client.post("/dialer/call", headers=h, json={"extension": "999",
                                                               "phonenumber": "5551234"})
        assert r.status == 400
        await client.get("/contacts/contacts", headers=h)
        assert (await client.get("/contacts/contacts", headers=h)).status == 429
        async with client.ws_connect("/events", headers={"x-api-key": (
                await app[mw.ACCOUNT].create_key("acme"))[1]}):
            resp = await client.get("/metrics")
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            m = samples(await resp.text())
        assert m[("callbridge_http_requests_total", (("method", "GET"),
                  ("route", "/contacts/contacts"), ("status", "200")))] == 2
        assert m[("callbridge_http_requests_total", (("method", "GET"),
                  ("route", "/contacts/contacts"), ("status", "429")))] == 1
        assert m[("callbridge_http_request_duration_seconds_count",
                  (("route", "/contacts/contacts"),))] == 3
        assert m[("callbridge_originates_total", (("result", "invalid"),))] == 1
        assert m[("callbridge_rate_limit_rejections_total", ())] == 1
        assert m[("callbridge_ami_link_state", (("node", "default"), ("state", "disabled")))] == 1
        assert m[("callbridge_event_stream_clients", ())] == 1
        assert ("callbridge_webhook_deliveries_total", ()) not in m  # no results yet: no series
        # a 404's path never becomes a label
        await client.get("/no/such/0012345678")
        m = samples(await (await client.get("/metrics")).text())
        assert not any("0012345678" in str(k) for k in m)


async def test_metrics_token(tmp_path):
    app = create_app(make_settings(tmp_path, metrics_token="s3cret-metrics-token"))
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/metrics")
        assert r.status == 401 and (await r.json())["error"] == "Metrics token required"
        r = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert r.status == 401
        r = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
        assert r.status == 200 and "callbridge_ami_link_state" in await r.text()


async def test_every_asterisk_node_has_its_own_series(tmp_path):
    # two nodes on ports nothing listens on: both links keep trying, this instance reads both
    app = create_app(make_settings(
        tmp_path, ami="east=ami://cb:secret-east-1234@127.0.0.1:9/ "
                      "west=ami://cb:secret-west-1234@127.0.0.1:19/"))
    async with TestClient(TestServer(app)) as client:
        text = await (await client.get("/metrics")).text()
        m = samples(text)
    for node in ("east", "west"):
        states = {s: m[("callbridge_ami_link_state", (("node", node), ("state", s)))]
                  for s in ("online", "connecting", "offline", "login_failed", "disabled")}
        assert sum(states.values()) == 1 and states["online"] == 0 and states["disabled"] == 0
        assert m[("callbridge_ami_ingesting", (("node", node),))] == 1  # one process: it reads
        assert m[("callbridge_call_log_rows_total", (("node", node),))] == 0
        assert ("callbridge_ami_events_total", (("node", node),)) in m
    assert "secret-east" not in text and "secret-west" not in text


async def test_loop_lag_tasks_and_threads_are_measured(tmp_path):
    import asyncio
    import time


    app = create_app(make_settings(tmp_path))
    async with TestClient(TestServer(app)) as client:

        await asyncio.sleep(0.3)
        time.sleep(0.4)  # the loop held longer than the watch's interval: a wake-up >= 150 ms late
        await asyncio.sleep(0.6)
        m = samples(await (await client.get("/metrics")).text())
    count = m[("callbridge_event_loop_lag_seconds_count", ())]
    under_100ms = m[("callbridge_event_loop_lag_seconds_bucket", (("le", "0.1"),))]
    assert count >= 3 and count - under_100ms >= 1  # the stall was seen
    assert m[("callbridge_asyncio_tasks", ())] >= 3 and m[("callbridge_threads", ())] >= 1
