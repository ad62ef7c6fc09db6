"""The database's disk full (a small tmpfs): writes are a clear 507, reads go on, nothing stored
is lost or half-written, and writing (the API's and the event journal's) resumes by itself once
space is freed."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import create_app
from callbridge.dialer import routes as dialer_routes
from callbridge.events import routes as events_routes
from callbridge.web import middleware as mw
from tests.conftest import Api, eventually, make_settings, sqlite_only, unavailable
from tests.events.test_stream import inbound_call_rings


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MiB tmpfs (mounting needs root)."""
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs for the disk-full test needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk) -> None:
    """Writes a filler file until the filesystem has no byte left."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


@sqlite_only("a full disk under the SQLite file (PostgreSQL's disk is the server's)")
async def test_a_full_disk_is_507_reads_go_on_and_writing_resumes(small_disk, caplog):
    app = create_app(make_settings(small_disk.parent, database=str(small_disk / "cb.db")))
    async with TestClient(TestServer(app)) as client:
        key = (await app[mw.ACCOUNT].create_key("acme"))[1]
        await app[dialer_routes.SERVICE].extensions.add("acme", "309")
        api = Api(client, {"acme": key}, app)
        kept = [(await api.ok("POST", "/contacts/contacts", json={"firstname": f"Kept{i}"}))["uuid"]
                for i in range(20)]
        _fill(small_disk)
        statuses = []
        for i in range(200):  # what free pages the file had are used up first
            status, body = await api.call("POST", "/contacts/contacts",
                                          json={"firstname": f"F{i}", "note": "x" * 2000})
            statuses.append(status)
            if status == 507:
                break
        assert statuses[-1] == 507 and set(statuses) <= {200, 201, 507}, statuses
        assert body["error"] == "Storage full" and "disk is full" in body["message"]
        # reads go on, everything stored before is there
        listed = await api.ok("GET", "/contacts/contacts")
        assert set(kept) <= {c["uuid"] for c in listed}
        # call events meanwhile: the journal can't store them, keeps them and retries
        journal = app[events_routes.SERVICE].journal
        before = await journal.last_id(1)
        inbound_call_rings(app, lid="30.1")
        inbound_call_rings(app, lid="30.2")
        (small_disk / "filler").unlink()  # space freed: nothing to do but wait
        status, created = await api.call("POST", "/contacts/contacts", json={"firstname": "After"})
        assert status in (200, 201), created

        async def stored() -> bool:
            return await journal.last_id(1) >= before + 2
        await eventually(stored, 10.0, "the events of the full-disk time stored")
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], \
            [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    conn = sqlite3.connect(small_disk / "cb.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        names = {r[0] for r in conn.execute("SELECT firstname FROM contacts")}
        assert {f"Kept{i}" for i in range(20)} | {"After"} <= names
    finally:
        conn.close()
