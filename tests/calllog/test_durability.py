"""The call log across restarts: a call is stored and published once, whatever happens to the
contacts, to Master.csv (rotated, truncated, huge) or to the extension's owner."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from callbridge.accounts.extensions import ExtensionService
from callbridge.admin.routes import EXTENSIONS
from callbridge.app import create_app
from callbridge.calllog import service as calllog_service
from callbridge.calllog.cdr import from_csv_text
from callbridge.calllog.routes import SERVICE
from callbridge.web import middleware as mw
from tests.calllog.master_csv import inbound, write_history
from tests.conftest import Api, make_settings

SINCE = "/call_log/records_after_timestamp?timestamp=2020-01-01 00:00:00&limit=10000"


@asynccontextmanager
async def running(tmp_path: Path, csv: Path, **settings):
    """callbridge on tmp_path's database and csv; stopping and entering again is a restart."""
    app = create_app(make_settings(tmp_path, cdr_csv=csv, **settings))
    async with TestClient(TestServer(app)) as client:
        accounts = app[mw.ACCOUNT]
        keys = {"acme": (await accounts.create_key("acme"))[1]}
        yield Api(client, keys, app)


def extensions(api) -> ExtensionService:
    return api.app[EXTENSIONS]


async def caught_up(api) -> None:
    """The background backfill finished, and everything ready is built."""
    service = api.app[SERVICE]
    await service.backfill()
    while await service.flush(final=True):
        pass


async def ingest_over_ami(api, lines: str) -> None:
    """The CDRs as they arrive over AMI (after the link parsed them)."""
    service = api.app[SERVICE]
    for record in from_csv_text(lines):
        service._queue.append({**record, "source": "ami"})
        service._pending[record["linkedid"]] = 0.0
    await service.flush(final=True)


async def test_a_restart_never_reissues_a_call_whatever_changed_in_contacts(tmp_path):
    csv = tmp_path / "Master.csv"
    csv.write_text("")
    calls = inbound(1, "5551234") + inbound(2, "5559876")
    async with running(tmp_path, csv) as api:
        await extensions(api).add("acme", "309")
        pat = (await api.ok("POST", "/contacts/contacts", json={"firstname": "Pat",
                                                                "mobile_phone": "555-1234"}))["uuid"]
        await ingest_over_ami(api, calls)
        first = (await api.ok("GET", SINCE))["records"]
        assert [(r["cidname_outside"], r["contact_uuid"]) for r in first] == [
            ("Pat", pat), ("Caller 2", None)]
        cursor = max(r["rid"] for r in first)
        await api.ok("PUT", f"/contacts/contacts/{pat}", json={"firstname": "Patricia"})
        await api.ok("POST", "/contacts/contacts", json={"firstname": "Newly", "mobile_phone": "5559876"})
    with csv.open("a") as f:  # what Asterisk wrote to Master.csv meanwhile: the same CDRs
        f.write(calls)
    async with running(tmp_path, csv) as api:  # restarted: the backfill reads them again
        await caught_up(api)
        again = (await api.ok("GET", SINCE))["records"]
        assert again == first
        after = await api.ok("GET", SINCE + f"&after={cursor}")
        assert after["records"] == [], "a follower saw a stored call again"
        # a later CDR of a stored call does rebuild it (a new rid), still under its first name
        late = inbound(1, "5551234", talk=90).replace(',"h1","",', ',"h1-late","",', 1)
        await ingest_over_ami(api, late.replace('"h1",0', '"h1",1'))
        changed = (await api.ok("GET", SINCE + f"&after={cursor}"))["records"]
        assert [(r["linkedid"], r["cidname_outside"]) for r in changed] == [("h1", "Pat")]
        assert changed[0]["duration"] > first[0]["duration"]


async def test_rows_of_an_extension_given_to_an_account_later_are_adopted_once(tmp_path):
    csv = tmp_path / "Master.csv"
    csv.write_text("")
    async with running(tmp_path, csv) as api:
        await extensions(api).add("acme", "309")
        cursor = 0
        await ingest_over_ami(api, inbound(1, "5551234", "399") + inbound(2, "5550000", "399"))
        assert (await api.ok("GET", SINCE))["records"] == []  # nobody's: kept, not served
        await api.ok("POST", "/contacts/contacts", json={"firstname": "Known", "mobile_phone": "5551234"})
        await extensions(api).add("acme", "399", did="+1 212 555 0199")
        assert await api.app[SERVICE].adopt_rows() == 2
        rows = (await api.ok("GET", SINCE + f"&after={cursor}"))["records"]
        assert [(r["linkedid"], r["cidname_outside"], r["cidnumber_inside"]) for r in rows] == [
            ("h1", "Known", "(212) 555-0199, x399"), ("h2", "Caller 2", "(212) 555-0199, x399")]
        assert await api.app[SERVICE].adopt_rows() == 0
        assert len((await api.ok("GET", SINCE))["records"]) == 2


async def test_a_rotated_or_rewritten_master_csv_is_read_from_its_start(tmp_path):
    csv = tmp_path / "Master.csv"
    csv.write_text(inbound(1, "5550001") + inbound(2, "5550002"))
    async with running(tmp_path, csv) as api:
        await extensions(api).add("acme", "309")
        await caught_up(api)
        assert len((await api.ok("GET", SINCE))["records"]) == 2
        # logrotate (create): a new file under the same name
        os.rename(csv, tmp_path / "Master.csv.1")
        csv.write_text(inbound(3, "5550003"))
        await caught_up(api)
        # copytruncate, then more calls than before: same inode, past the old offset
        with csv.open("r+") as f:
            f.truncate(0)
            f.write(inbound(4, "5550004") + inbound(5, "5550005") + inbound(6, "5550006"))
        await caught_up(api)
        ids = sorted(r["linkedid"] for r in (await api.ok("GET", SINCE))["records"])
        assert ids == ["h1", "h2", "h3", "h4", "h5", "h6"]


async def test_history_skip_starts_a_first_start_at_the_end_of_master_csv(tmp_path):
    csv = tmp_path / "Master.csv"
    write_history(csv, 50_000)
    async with running(tmp_path, csv, cdr_csv_history="skip") as api:
        await extensions(api).add("acme", "309")
        await caught_up(api)
        assert (await api.ok("GET", SINCE))["records"] == []
        with csv.open("a") as f:
            f.write(inbound(1, "5557777", prefix="new"))
        await caught_up(api)
        assert [r["linkedid"] for r in (await api.ok("GET", SINCE))["records"]] == ["new1"]


async def test_master_csv_is_followed_while_the_ami_link_is_down(tmp_path, monkeypatch):
    monkeypatch.setattr(calllog_service, "CSV_POLL_SECONDS", 0.2)
    csv = tmp_path / "Master.csv"
    csv.write_text("")
    async with running(tmp_path, csv) as api:  # no AMI configured: the link is never online
        await extensions(api).add("acme", "309")
        with csv.open("a") as f:
            f.write(inbound(1, "5558888"))
        for _ in range(50):
            if (await api.ok("GET", SINCE))["records"]:
                break
            await asyncio.sleep(0.1)
        assert [r["linkedid"] for r in (await api.ok("GET", SINCE))["records"]] == ["h1"]
