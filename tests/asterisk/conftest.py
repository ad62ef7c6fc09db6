"""Fixtures for tests against the real PBX (marker: asterisk).

Without Asterisk/SIPp these tests skip, saying how to install them; with CI=true they fail
instead, because in CI nothing the mission needs may be skipped.
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.asterisk.pbx import Pbx, have_tools
from tests.conftest import unavailable
from tests.pg import fresh_database


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/asterisk/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.asterisk)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def pbx(tmp_path_factory):
    missing = have_tools()
    if missing:
        unavailable(f"{missing}: run `sudo scripts/install-asterisk.sh` for the real-PBX tests")
    bench = Pbx(tmp_path_factory.mktemp("pbx"))
    bench.render()
    try:
        bench.start()
        # the PSTN answers after 1 s and hangs up 4 s later; 309's desk phone answers after 1.5 s
        bench.start_standard_phones(trunk_answer_ms=1000, trunk_hangup_ms=4000, desk_answer_ms=1500)
        yield bench
    finally:
        bench.stop_phones()
        bench.stop()


@pytest.fixture
def running_pbx(pbx):
    """The bench, restarted first if an earlier test stopped or killed Asterisk."""
    if not pbx.running:
        pbx.start()
        pbx.wait_devices("309", 2)
    pbx.settle()
    return pbx


@asynccontextmanager
async def callbridge_on(pbx, database: Path | str, *, fresh: bool = True,
                        wait_online: bool = True, **overrides):
    """A callbridge app on the bench's Asterisk (and its Master.csv). With fresh, acme gets
    extensions 309 and 310 and globex 320; keys are made for both either way. overrides are
    settings (e.g. a wrong ami_secret, with wait_online=False)."""
    from aiohttp.test_utils import TestClient, TestServer

    from callbridge.admin.routes import EXTENSIONS
    from callbridge.app import AMI_LINK, create_app
    from callbridge.settings import Settings
    from callbridge.web import middleware as mw
    from tests.conftest import Api

    # the file's name, or in a PostgreSQL run the database made for it (tests.pg)
    # (a postgresql:// URL as it is)
    target = database if isinstance(database, str) else fresh_database(database.parent,
                                                                        database.name)
    values = dict(database=target, ami_port=pbx.ami_port, cdr_csv=pbx.master_csv,
                  ami_username=pbx.ami_username, ami_secret=pbx.ami_secret,
                  ami_ping_interval=0.5, ami_action_timeout=2.0, ami_reconnect_max=1.0,
                  callerid_token=pbx.callerid_token)
    settings = Settings(**{**values, **overrides})
    app = create_app(settings)
    # on the port the dialplan's CURL() asks (Pbx.callbridge_port)
    async with TestClient(TestServer(app, port=pbx.callbridge_port)) as client:
        accounts = app[mw.ACCOUNT]
        keys = {n: (await accounts.create_key(n))[1] for n in ("acme", "globex")}
        if fresh:
            ext = app[EXTENSIONS]
            for account, number in (("acme", "309"), ("acme", "310"), ("globex", "320")):
                await ext.add(account, number)
        if wait_online:
            assert await app[AMI_LINK].wait_online(10), app[AMI_LINK].status()
        yield Api(client, keys, app)


QUEUES = {"direct": ("700", "cbq-direct"), "local": ("701", "cbq-local"),
          "freepbx": ("705", "cbq-freepbx")}


@pytest.fixture
def queue_pbx(running_pbx):
    """The bench with a desk phone for 310 that answers 0.8 s after it rings (309's answers
    after 1.5 s: 310 takes every queue call) and the queues' numbers in from-trunk."""
    pbx = running_pbx
    for number, queue in QUEUES.values():
        pbx.cli(f"dialplan add extension {number},1,Queue({queue},r) into from-trunk replace")
    pbx.start_phone("desk310", answer_ms=800, hangup_ms=600_000, register_as="310")
    try:
        pbx.wait_devices("310", 1)
        yield pbx
    finally:  # the other tests count on 310 having no device
        pbx.unregister("desk310", "310")


@pytest.fixture
async def dialer_api(running_pbx, tmp_path):
    """callbridge wired to the bench's Asterisk, with acme owning 309 and 310, globex 320."""
    async with callbridge_on(running_pbx, tmp_path / "callbridge.db") as api:
        yield api


@pytest.fixture
def node_b(tmp_path):
    """A second private Asterisk: the trunk, and a desk phone registered as 310."""
    pbx = Pbx(tmp_path / "pbx-b")
    pbx.render()
    pbx.start()
    try:
        pbx.start_phone("trunk", answer_ms=1000, hangup_ms=3000, port=pbx.trunk_port)
        pbx.start_phone("desk310", answer_ms=1000, hangup_ms=600_000, register_as="310")
        pbx.wait_devices("310", 1)
        yield pbx
    finally:
        pbx.stop_phones()
        pbx.stop()


def ami_url(pbx: Pbx) -> str:
    """The node's entry in CALLBRIDGE_AMI (without its name=)."""
    return f"ami://{pbx.ami_username}:{pbx.ami_secret}@127.0.0.1:{pbx.ami_port}{pbx.master_csv}"


def calls_in_csv(pbx: Pbx, since: int, matching) -> set[str]:
    """Linkedids of the calls the node's Master.csv got after byte `since` with a CDR
    matching(cdr)."""
    from callbridge.calllog.cdr import from_csv_text

    with pbx.master_csv.open(encoding="utf-8", errors="replace") as f:
        f.seek(since)
        return {c["linkedid"] for c in from_csv_text(f.read()) if matching(c)}
