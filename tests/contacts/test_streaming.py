"""Whole-account reads (list, sync) are streamed from one snapshot in bounded batches, and can be
paged with limit + the Link header's next URL."""

from __future__ import annotations

import asyncio
import re

import pytest

from callbridge.contacts import service as contact_service
from callbridge.db.database import SqliteSnapshot as Snapshot


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(contact_service, "BATCH", 3)  # many batches from a few rows


async def _make(api, n, account="acme", prefix="C"):
    return [(await api.ok("POST", "/contacts/contacts", account=account,
                          json={"firstname": f"{prefix}{i}"}))["uuid"] for i in range(n)]


def _next(api) -> str | None:
    link = api.last_headers.get("Link")
    if link is None:
        return None
    m = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert m, link
    return m.group(1)


async def test_the_full_list_is_streamed_chunked_and_only_the_accounts_own(api):
    mine = await _make(api, 10)
    await _make(api, 4, account="globex", prefix="G")
    resp = await api.client.get("/contacts/contacts", headers={"x-api-key": api.keys["acme"]})
    assert resp.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in resp.headers
    assert resp.headers["RateLimit-Limit"] and "Link" not in resp.headers
    assert [c["uuid"] for c in await resp.json()] == mine


async def test_list_pages_follow_the_link_to_the_end(api):
    mine = await _make(api, 11)
    seen, url = [], "/contacts/contacts?limit=4"
    while url:
        page = await api.ok("GET", url)
        assert len(page) <= 4
        seen += [c["uuid"] for c in page]
        url = _next(api)
    assert seen == mine
    # offset still works, and combines with limit
    page = await api.ok("GET", "/contacts/contacts?offset=9&limit=5")
    assert [c["uuid"] for c in page] == mine[9:] and _next(api) is None
    assert await api.ok("GET", "/contacts/contacts?offset=50") == []


async def test_sync_pages_mix_updates_and_deletions_in_version_order(api):
    ids = await _make(api, 7)
    await api.ok("DELETE", f"/contacts/contacts/{ids[1]}")
    await api.ok("PUT", f"/contacts/contacts/{ids[0]}", json={"lastname": "Changed"})
    await api.ok("DELETE", f"/contacts/contacts/{ids[3]}")
    whole = await api.ok("GET", "/contacts/contactsAfterVersion/0")
    assert _next(api) is None
    changes = sorted([(c["version"], "u", c["uuid"]) for c in whole["updated"]] +
                     [(d["version"], "d", d["uuid"]) for d in whole["deleted"]])
    assert [c["version"] for c in whole["updated"]] == sorted(c["version"] for c in whole["updated"])
    paged, url, pages = [], "/contacts/contactsAfterVersion/0?limit=3", 0
    while url:
        body = await api.ok("GET", url)
        assert len(body["updated"]) + len(body["deleted"]) <= 3
        paged += [(c["version"], "u", c["uuid"]) for c in body["updated"]]
        paged += [(d["version"], "d", d["uuid"]) for d in body["deleted"]]
        url, pages = _next(api), pages + 1
    assert len(changes) == 7 and sorted(paged) == changes and pages == 3  # 5 live + 2 tombstones
    # a CRM resuming from the highest version it holds gets exactly what came after
    top = max(v for v, _, _ in changes)
    late = await _make(api, 1)
    body = await api.ok("GET", f"/contacts/contactsAfterVersion/{top}?limit=3")
    assert [c["uuid"] for c in body["updated"]] == late and body["deleted"] == []


async def test_a_stream_reads_one_snapshot_while_writes_go_on(api, monkeypatch):
    before = await _make(api, 12)
    gate, reads = asyncio.Event(), 0
    original = Snapshot.fetchall

    async def slow_fetchall(self, sql, params=()):
        nonlocal reads
        reads += 1
        if reads == 3:          # mid-stream: let the writes below happen first
            await gate.wait()
        return await original(self, sql, params)

    monkeypatch.setattr(Snapshot, "fetchall", slow_fetchall)
    reading = asyncio.create_task(api.ok("GET", "/contacts/contacts"))
    for _ in range(100):
        if reads >= 3:
            break
        await asyncio.sleep(0.01)
    monkeypatch.setattr(Snapshot, "fetchall", original)
    # writes are not held up by the open stream...
    await api.ok("DELETE", f"/contacts/contacts/{before[-1]}")   # not yet streamed
    added = await _make(api, 1, prefix="New")
    sync = await api.ok("GET", "/contacts/contactsAfterVersion/0")
    assert added[0] in [c["uuid"] for c in sync["updated"]]
    assert [d["uuid"] for d in sync["deleted"]] == [before[-1]]
    # ...and the stream that started before them shows the account as it was when it started
    gate.set()
    listed = [c["uuid"] for c in await reading]
    assert listed == before, "the stream saw writes made after it started"


async def test_paging_parameters_are_validated(api):
    for url in ("/contacts/contacts?limit=0", "/contacts/contacts?after=-1",
                "/contacts/contactsAfterVersion/0?limit=0", "/contacts/contactsAfterVersion/0?limit=x",
                "/contacts/contactsAfterVersion/0?limit=100001", "/contacts/contactsAfterVersion/0?page=2"):
        status, body = await api.call("GET", url)
        assert status == 400 and body["error"] == "Invalid query parameter", (url, body)
