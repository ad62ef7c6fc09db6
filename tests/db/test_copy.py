"""`callbridge db copy`: an installation moved from SQLite to PostgreSQL answers as before."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from callbridge.admin.routes import EXTENSIONS
from callbridge.app import create_app
from callbridge.settings import Settings
from callbridge.web import middleware as mw
from tests.calllog.test_api import _inbound, _ingest
from tests.conftest import Api, unavailable
from tests.pg import cluster, server_bin

READS = ("/contacts/contacts?limit=100", "/contacts/groups",
         "/contacts/contactsAfterVersion/0",
         "/call_log/records_after_timestamp?timestamp=2020-01-01 00:00:00",
         "/contacts/contacts/search/mobile/like?mobile_phone=5551")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    return subprocess.run([sys.executable, "-m", "callbridge", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def _answers(api: Api) -> dict:
    out = {}
    for path in READS:
        method = "POST" if "like" in path else "GET"
        if method == "POST":
            out[path] = await api.call("POST", "/contacts/contacts/search/mobile/like",
                                       json={"mobile_phone": "5551"})
        else:
            out[path] = await api.call("GET", path)
    return out


async def _serving(settings: Settings, keys: dict | None = None):
    app = create_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    if keys is None:
        keys = {"acme": (await app[mw.ACCOUNT].create_key("acme"))[1]}
    return Api(client, keys, app)


async def test_copy_moves_every_row_and_the_api_answers_the_same(tmp_path):
    if server_bin() is None:
        unavailable("no PostgreSQL server (scripts/install-postgresql.sh)")
    source = tmp_path / "old.db"
    api = await _serving(Settings(database=str(source), cdr_csv=None))
    try:
        await api.app[EXTENSIONS].add("acme", "309")
        group = await api.ok("POST", "/contacts/groups", json={"name": "VIP"})
        for i in range(30):
            await api.ok("POST", "/contacts/contacts", json={
                "firstname": f"Pat{i}", "mobile_phone": f"555100{i:04d}",
                "groups": [group["uuid"]] if i % 3 == 0 else []})
        doomed = await api.ok("POST", "/contacts/contacts", json={"firstname": "Gone"})
        await api.ok("DELETE", f"/contacts/contacts/{doomed['uuid']}")
        await _ingest(api, [_inbound(i, f"555100{i:04d}", f"2026-01-0{1 + i % 5} 10:00:00")
                            for i in range(5)])
        before = await _answers(api)
    finally:
        await api.client.close()

    url = cluster().new_database()
    done = _cli("db", "copy", str(source), url)
    assert done.returncode == 0, done.stderr
    assert "counts match" in done.stdout and "contacts" in done.stdout
    assert "copying old.db" in done.stderr  # the progress bar
    # the planner has statistics at once (a never-analyzed table is reltuples -1): a service
    # started right after the copy planned its list on none and took minutes at 1 M contacts
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'contacts'") == 30
    finally:
        await conn.close()

    api = await _serving(Settings(database=url, cdr_csv=None), keys=api.keys)
    try:
        assert await _answers(api) == before
        # ids and versions go on from the copied ones: nothing handed out twice
        fresh = await api.ok("POST", "/contacts/contacts", json={"firstname": "New"})
        synced = await api.ok("GET", "/contacts/contactsAfterVersion/0")
        assert synced["deleted"] == before[READS[2]][1]["deleted"] != []
        new = next(c for c in synced["updated"] if c["uuid"] == fresh["uuid"])
        old = before[READS[2]][1]
        assert new["version"] > max(c["version"] for c in old["updated"] + old["deleted"])
    finally:
        await api.client.close()

    again = _cli("db", "copy", str(source), url)
    assert again.returncode == 1 and "already holds accounts" in again.stderr


async def test_a_database_bulk_loaded_another_way_is_analyzed_when_the_service_starts(caplog):
    """pg_restore or an operator's own COPY leaves the tables without statistics until autovacuum
    gets round to them; the planner then chose a scan per batch (a 1 M list took 304 s). Opening
    the database analyzes a never-analyzed table that holds rows; small ones are left alone."""
    if server_bin() is None:
        unavailable("no PostgreSQL server (scripts/install-postgresql.sh)")
    from callbridge.db.postgres import UNPLANNED_ROWS, PgDatabase
    url = cluster().new_database()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO rate_windows(client, window_index, hits)"
                           " SELECT 'c' || i, i, 1 FROM generate_series(1, $1) i", UNPLANNED_ROWS)
        await conn.execute("INSERT INTO ami_instances(instance, seen_until, prefers)"
                           " VALUES ('i', 0, '')")
        reltuples = "SELECT reltuples FROM pg_class WHERE relname = $1"
        assert await conn.fetchval(reltuples, "rate_windows") < 0  # never analyzed
        db = PgDatabase(url)
        with caplog.at_level("INFO", logger="callbridge.db"):
            await db.open(create=False)
        await db.close()
        assert await conn.fetchval(reltuples, "rate_windows") == UNPLANNED_ROWS
        assert await conn.fetchval(reltuples, "ami_instances") < 0  # one row: not worth it
        analyzed = [r for r in caplog.records if r.getMessage() == "db.analyzed"]
        assert len(analyzed) == 1
    finally:
        await conn.close()
