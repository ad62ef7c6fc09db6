"""Version-based sync: contactsAfterVersion with tombstones, memberships, concurrency."""

from __future__ import annotations

import asyncio


async def _changes(api, v, account="acme"):
    return await api.ok("GET", f"/contacts/contactsAfterVersion/{v}", account=account)


async def test_sync_returns_exactly_what_changed_in_version_order(api):
    a = (await api.ok("POST", "/contacts/contacts", json={"firstname": "A"}))["uuid"]
    b = (await api.ok("POST", "/contacts/contacts", json={"firstname": "B"}))["uuid"]
    c = (await api.ok("POST", "/contacts/contacts", json={"firstname": "C"}))["uuid"]
    everything = await _changes(api, 0)
    assert [u["uuid"] for u in everything["updated"]] == [a, b, c]
    mark = max(u["version"] for u in everything["updated"])
    assert await _changes(api, mark) == {"updated": [], "deleted": []}

    await api.ok("PUT", f"/contacts/contacts/{a}", json={"lastname": "Again"})
    await api.ok("DELETE", f"/contacts/contacts/{b}")
    changes = await _changes(api, mark)
    assert [u["uuid"] for u in changes["updated"]] == [a]
    assert [d["uuid"] for d in changes["deleted"]] == [b]
    assert changes["deleted"][0]["version"] > changes["updated"][0]["version"] > mark
    assert changes["deleted"][0]["deleted_at"].endswith("Z")
    # a client that synced in between sees only the deletion
    assert [d["uuid"] for d in (await _changes(api, changes["updated"][0]["version"]))["deleted"]] == [b]
    assert (await _changes(api, changes["deleted"][0]["version"])) == {"updated": [], "deleted": []}
    assert c not in [u["uuid"] for u in changes["updated"]]


async def test_membership_changes_and_group_deletion_bump_versions(api):
    g = (await api.ok("POST", "/contacts/groups", json={"name": "G"}))["uuid"]
    a = (await api.ok("POST", "/contacts/contacts", json={"firstname": "A"}))["uuid"]
    b = (await api.ok("POST", "/contacts/contacts", json={"firstname": "B"}))["uuid"]
    mark = (await api.ok("GET", f"/contacts/contacts/{b}"))["version"]
    await api.ok("POST", "/contacts/contact_groups", json={"fk_contact_uuid": a, "fk_group_uuid": g})
    await api.ok("POST", "/contacts/contact_groups", json={"fk_contact_uuid": b, "fk_group_uuid": g})
    changed = await _changes(api, mark)
    assert [u["uuid"] for u in changed["updated"]] == [a, b]
    assert all(u["groups"] == [g] for u in changed["updated"])
    mark = changed["updated"][-1]["version"]
    await api.ok("DELETE", f"/contacts/groups/{g}")
    changed = await _changes(api, mark)
    assert sorted(u["uuid"] for u in changed["updated"]) == sorted([a, b])
    assert all(u["groups"] == [] for u in changed["updated"])
    versions = [u["version"] for u in changed["updated"]]
    assert len(set(versions)) == 2 and min(versions) > mark


async def test_concurrent_writers_get_unique_increasing_versions(api):
    async def create(i):
        return (await api.ok("POST", "/contacts/contacts", json={"firstname": f"W{i}"}))["uuid"]
    uuids = await asyncio.gather(*(create(i) for i in range(40)))
    await asyncio.gather(*(api.ok("PUT", f"/contacts/contacts/{u}", json={"note": "n"}) for u in uuids))
    rows = (await _changes(api, 0))["updated"]
    versions = [r["version"] for r in rows]
    assert len(rows) == 40
    assert versions == sorted(versions) and len(set(versions)) == 40
    # 40 creates + 40 updates took 80 versions; each contact's latest is one of the last 40
    assert min(versions) > 40 and max(versions) == 80


async def test_versions_are_per_account(api):
    await api.ok("POST", "/contacts/contacts", json={"firstname": "A"})
    await api.ok("POST", "/contacts/contacts", json={"firstname": "B"})
    await api.ok("POST", "/contacts/contacts", json={"firstname": "X"}, account="globex")
    mine = await _changes(api, 0, "globex")
    assert [u["firstname"] for u in mine["updated"]] == ["X"] and mine["updated"][0]["version"] == 1
