"""GET /ready: false while the database doesn't answer or every Asterisk link is down; /health
stays the cheap liveness probe, healthy either way."""

from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import DATABASE, create_app
from tests.conftest import make_settings
from tests.pg import engine


async def test_ready_without_an_ami_user_depends_on_the_database_only(api):
    status, body = await api.call("GET", "/ready", account=None)
    assert status == 200 and body == {"ready": True, "database": "reachable", "pbx": "disabled"}


async def test_every_asterisk_link_down_is_not_ready_but_alive(tmp_path, free_port):
    # a configured AMI user on a port nothing listens on
    app = create_app(make_settings(tmp_path, ami_secret="s", ami_port=free_port()))
    async with TestClient(TestServer(app)) as client:
        started = time.monotonic()
        resp = await client.get("/ready")
        body = await resp.json()
        assert resp.status == 503 and time.monotonic() - started < 1.5
        assert body["error"] == "Not ready" and body["pbx"] == "unreachable"
        assert body["message"] == "every Asterisk link is down" and body["database"] == "reachable"
        health = await client.get("/health")
        assert health.status == 200 and (await health.json())["status"] == "healthy"


@pytest.mark.skipif(engine() != "postgresql", reason="PostgreSQL only: a database out of reach"
                    " (SQLite is a file: it can't be)")
async def test_a_database_out_of_reach_is_not_ready_within_a_second(tmp_path):
    from tests.pg import Cluster
    own = Cluster()  # a cluster of this test's own, stopped under the running app
    try:
        app = create_app(make_settings(tmp_path, database=own.new_database()))
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/ready")).status == 200
            own.server("stop")
            started = time.monotonic()
            resp = await client.get("/ready")
            assert resp.status == 503 and time.monotonic() - started < 2.0
            body = await resp.json()
            assert body["database"] == "unreachable" and "database" in body["message"]
            assert (await client.get("/health")).status == 200
            own.server("start")
            assert app[DATABASE].engine == "postgresql"

            async def ready_again() -> bool:
                return (await client.get("/ready")).status == 200
            from tests.conftest import eventually
            await eventually(ready_again, 15.0, "ready once PostgreSQL is back", every=0.2)
    finally:
        own.stop()
