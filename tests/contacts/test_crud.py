"""Contacts CRUD, external IDs and groups through the HTTP API, on a real SQLite file."""

from __future__ import annotations

import pytest

JOHN = {"firstname": "John", "lastname": "Doe", "organization": "Acme Corp",
        "organization_flag": True, "user_id": 1, "phone_numbers": ["555-1234", "555-5678"],
        "mobile_phone": "555-9999", "email": "john@example.com", "address": "123 Main St",
        "city": "Anytown", "state": "CA", "zip": "12345", "country": "USA",
        "note": "Important client", "profile_url": "https://example.com/p.jpg",
        "external_id": "ext_123"}


async def test_create_get_list_round_trip(api):
    created = await api.ok("POST", "/contacts/contacts", json=JOHN)
    uuid = created["uuid"]
    got = await api.ok("GET", f"/contacts/contacts/{uuid}")
    for key, value in JOHN.items():
        if key not in ("phone_numbers", "mobile_phone"):
            assert got[key] == value, key
    assert got["mobile_phone"] == "5559999"
    assert got["phone_numbers"] == ["5551234", "5555678"]
    assert got["version"] >= 1 and got["groups"] == []
    listed = await api.ok("GET", "/contacts/contacts")
    assert [c["uuid"] for c in listed] == [uuid]


async def test_update_changes_only_given_fields_and_bumps_version(api):
    uuid = (await api.ok("POST", "/contacts/contacts", json=JOHN))["uuid"]
    before = await api.ok("GET", f"/contacts/contacts/{uuid}")
    resp = await api.ok("PUT", f"/contacts/contacts/{uuid}", json={"lastname": "Smith",
                                                                    "mobile_phone": "+1 555 222 3333"})
    assert resp == {"message": "Contact updated successfully.", "uuid": uuid}
    after = await api.ok("GET", f"/contacts/contacts/{uuid}")
    assert after["lastname"] == "Smith" and after["firstname"] == "John"
    assert after["email"] == JOHN["email"] and after["mobile_phone"] == "5552223333"
    assert after["version"] > before["version"]
    # the old mobile no longer finds it, the new one does
    assert (await api.call("POST", "/contacts/contacts/search/mobile",
                           json={"mobile_phone": "5559999"}))[0] == 404
    assert (await api.ok("POST", "/contacts/contacts/search/mobile",
                         json={"mobile_phone": "555-222-3333"}))["uuid"] == uuid


async def test_update_can_clear_a_field_with_null(api):
    uuid = (await api.ok("POST", "/contacts/contacts", json=JOHN))["uuid"]
    await api.ok("PUT", f"/contacts/contacts/{uuid}", json={"email": None, "mobile_phone": None})
    got = await api.ok("GET", f"/contacts/contacts/{uuid}")
    assert got["email"] is None and got["mobile_phone"] is None


async def test_delete_then_gone(api):
    uuid = (await api.ok("POST", "/contacts/contacts", json=JOHN))["uuid"]
    assert await api.ok("DELETE", f"/contacts/contacts/{uuid}") == {"success": True, "uuid": uuid}
    assert await api.call("GET", f"/contacts/contacts/{uuid}") == (404, {"error": "Contact not found"})
    assert (await api.call("DELETE", f"/contacts/contacts/{uuid}"))[0] == 404
    assert (await api.call("PUT", f"/contacts/contacts/{uuid}", json={"note": "x"}))[0] == 404


async def test_external_id_operations(api):
    uuid = (await api.ok("POST", "/contacts/contacts", json={**JOHN, "external_id": "CRM-12345"}))["uuid"]
    got = await api.ok("GET", "/contacts/contacts/external/CRM-12345")
    assert got["uuid"] == uuid
    resp = await api.ok("PUT", "/contacts/contacts/external/CRM-12345",
                        json={"firstname": "Johnny", "email": "johnny@example.com"})
    assert resp == {"message": "Contact updated successfully.", "uuid": uuid}
    got = await api.ok("GET", "/contacts/contacts/external/CRM-12345")
    assert got["firstname"] == "Johnny" and got["lastname"] == "Doe"
    assert await api.ok("DELETE", "/contacts/contacts/external/CRM-12345") == {"success": True,
                                                                               "uuid": uuid}
    assert (await api.call("GET", "/contacts/contacts/external/CRM-12345"))[0] == 404
    assert (await api.call("PUT", "/contacts/contacts/external/nope", json={"note": "x"}))[0] == 404


async def test_external_id_is_unique_per_account(api):
    await api.ok("POST", "/contacts/contacts", json={**JOHN, "external_id": "E1"})
    status, body = await api.call("POST", "/contacts/contacts", json={"firstname": "X", "external_id": "E1"})
    assert status == 409 and body["error"] == "Duplicate external_id" and body["field"] == "external_id"
    other = (await api.ok("POST", "/contacts/contacts", json={"firstname": "Y", "external_id": "E2"}))["uuid"]
    status, _ = await api.call("PUT", f"/contacts/contacts/{other}", json={"external_id": "E1"})
    assert status == 409
    # the same external_id in another account is fine
    await api.ok("POST", "/contacts/contacts", json={"firstname": "Z", "external_id": "E1"},
                 account="globex")


async def test_groups_membership_and_expansion(api):
    g1 = (await api.ok("POST", "/contacts/groups", json={"name": "VIP Clients"}))["uuid"]
    g2 = (await api.ok("POST", "/contacts/groups", json={"name": "Prospects"}))["uuid"]
    status, body = await api.call("POST", "/contacts/groups", json={"name": "VIP Clients"})
    assert status == 409 and body["error"] == "Group already exists"
    groups = await api.ok("GET", "/contacts/groups")
    assert sorted(g["name"] for g in groups) == ["Prospects", "VIP Clients"]
    assert all(isinstance(g["version"], int) for g in groups)

    uuid = (await api.ok("POST", "/contacts/contacts", json={**JOHN, "groups": [g1]}))["uuid"]
    detail = await api.ok("GET", f"/contacts/contacts/{uuid}")
    assert detail["groups"] == [{"uuid": g1, "name": "VIP Clients"}]
    listed = await api.ok("GET", "/contacts/contacts")
    assert listed[0]["groups"] == [g1]

    membership = {"fk_contact_uuid": uuid, "fk_group_uuid": g2}
    added = await api.ok("POST", "/contacts/contact_groups", json=membership)
    assert isinstance(added["id"], int)
    assert await api.ok("POST", "/contacts/contact_groups", json=membership) == added  # idempotent
    members = await api.ok("GET", f"/contacts/groups/{g2}/contacts")
    assert [c["uuid"] for c in members] == [uuid]
    assert await api.ok("DELETE", "/contacts/contact_groups", json=membership) == {"changes": 1}
    assert await api.ok("DELETE", "/contacts/contact_groups", json=membership) == {"changes": 0}
    assert await api.ok("GET", f"/contacts/groups/{g2}/contacts") == []

    # PUT with groups replaces memberships; a round-tripped {uuid, name} list is accepted
    await api.ok("PUT", f"/contacts/contacts/{uuid}",
                 json={"groups": [{"uuid": g2, "name": "Prospects"}]})
    assert [g["uuid"] for g in (await api.ok("GET", f"/contacts/contacts/{uuid}"))["groups"]] == [g2]

    assert await api.ok("DELETE", f"/contacts/groups/{g2}") == {"success": True, "deleted": 1}
    assert (await api.ok("GET", f"/contacts/contacts/{uuid}"))["groups"] == []
    assert await api.call("DELETE", f"/contacts/groups/{g2}") == (404, {"error": "Group not found"})
    assert (await api.call("GET", f"/contacts/groups/{g2}/contacts"))[0] == 404


async def test_membership_with_unknown_ends_is_404(api):
    g = (await api.ok("POST", "/contacts/groups", json={"name": "G"}))["uuid"]
    c = (await api.ok("POST", "/contacts/contacts", json={"firstname": "A"}))["uuid"]
    s, b = await api.call("POST", "/contacts/contact_groups", json={"fk_contact_uuid": "nope", "fk_group_uuid": g})
    assert (s, b["error"]) == (404, "Contact not found")
    s, b = await api.call("POST", "/contacts/contact_groups", json={"fk_contact_uuid": c, "fk_group_uuid": "nope"})
    assert (s, b["error"]) == (404, "Group not found")


async def test_create_with_unknown_group_writes_nothing(api):
    status, body = await api.call("POST", "/contacts/contacts", json={**JOHN, "groups": ["no-such"]})
    assert status == 400 and body["field"] == "groups.0"
    assert await api.ok("GET", "/contacts/contacts") == []
    assert (await api.ok("GET", "/contacts/contactsAfterVersion/0")) == {"updated": [], "deleted": []}


async def test_contact_needs_some_identity(api):
    status, body = await api.call("POST", "/contacts/contacts", json={"note": "nobody"})
    assert status == 400 and "name" in body["message"]


@pytest.mark.parametrize("path", ["/contacts/contacts?limit=2", "/contacts/contacts?limit=2&offset=2"])
async def test_list_paging(api, path):
    for i in range(5):
        await api.ok("POST", "/contacts/contacts", json={"firstname": f"P{i}"})
    page = await api.ok("GET", path)
    assert len(page) == 2
    offset = 2 if "offset" in path else 0
    assert [c["firstname"] for c in page] == [f"P{offset}", f"P{offset + 1}"]
