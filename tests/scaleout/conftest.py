"""Two callbridge instances on one PostgreSQL database, in this process: what a load balancer
in front of several instances relies on."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import create_app
from callbridge.web import middleware as mw
from tests.conftest import Api, make_settings
from tests.pg import engine

# Every test here runs in the PostgreSQL run of the suite (TEST_ENGINE=postgresql): several
# instances share state only through PostgreSQL; SQLite serves one process.
pytestmark = pytest.mark.skipif(engine() != "postgresql",
                                reason="several instances need PostgreSQL (TEST_ENGINE)")


@pytest.fixture
async def instances(tmp_path):
    """instances(n, **settings) -> n Apis: instances on one database; the same keys work at
    every one. Stopped after the test."""
    url = make_settings(tmp_path).database
    started: list[TestClient] = []

    async def start(n: int = 2, **settings) -> tuple[Api, ...]:
        apps = []
        for _ in range(n):
            app = create_app(make_settings(tmp_path, database=url, webhook_allow_private=True,
                                           **settings))
            client = TestClient(TestServer(app))
            await client.start_server()
            started.append(client)
            apps.append((app, client))
        accounts = apps[0][0][mw.ACCOUNT]
        keys = {n: (await accounts.create_key(n))[1] for n in ("acme", "globex")}
        return tuple(Api(client, keys, app) for app, client in apps)

    yield start
    for client in started:
        await client.close()


@pytest.fixture
async def two(instances):
    """(a, b): two instances on one database."""
    return await instances(2)
