"""The AgentVoice Contacts API (/api) as its document shows it, over the WebFones contacts."""

from __future__ import annotations

import asyncio

import pytest

from callbridge.web import middleware as mw

FIELDS = {"id", "user_id", "first_name", "last_name", "email", "phone", "company", "created_at",
          "updated_at", "last_task_run", "total_tasks_run", "organization_id", "crm_id", "crm_source"}
UNAUTHORIZED = {"error": "Invalid API key or organization ID"}


@pytest.fixture
async def av(api):
    accounts = api.app[mw.ACCOUNT].store
    orgs = {n: (await accounts.find_account(n)).uuid for n in ("acme", "globex")}

    async def call(method, path, *, account="acme", org=None, **kw):
        headers = {"x-organization-id": orgs[account] if org is None else org}
        return await api.call(method, path, account=account, headers=headers, **kw)

    api.av, api.orgs = call, orgs
    return api


async def test_create_answers_every_field_the_document_shows(av):
    status, c = await av.av("POST", "/api/contacts", json={
        "first_name": "Jane", "last_name": "Smith", "email": "jane@example.com",
        "phone": "+1 (580) 867-5309", "company": "New Corp", "crm_id": "CRM456", "crm_source": "hubspot"})
    assert status == 200 and set(c) == FIELDS, c
    assert (c["first_name"], c["last_name"], c["email"], c["company"]) == ("Jane", "Smith", "jane@example.com", "New Corp")
    assert c["phone"] == "+15808675309" and (c["crm_id"], c["crm_source"]) == ("CRM456", "hubspot")
    assert c["organization_id"] == av.orgs["acme"] and c["user_id"] == av.keys["acme"][3:15]
    assert c["created_at"].endswith("Z") and c["last_task_run"] is None and c["total_tasks_run"] == 0
    assert (await av.av("GET", f"/api/contacts/{c['id']}"))[1] == c
    assert (await av.av("GET", "/api/contacts"))[1] == [c]
    found = await av.av("GET", "/api/contacts/crm/lookup?crm_id=CRM456&crm_source=hubspot")
    assert found == (200, c)


@pytest.mark.parametrize("org", [None, "", "not-a-uuid"])
async def test_a_missing_or_foreign_organization_is_401(av, org):
    headers = {} if org is None else {"x-organization-id": org}
    assert await av.call("GET", "/api/contacts", headers=headers) == (401, UNAUTHORIZED)
    assert await av.av("GET", "/api/contacts", org=av.orgs["globex"]) == (401, UNAUTHORIZED)
    assert await av.call("GET", "/api/contacts", account=None,
                         headers={"x-organization-id": av.orgs["acme"], "x-api-key": "cb_nope"}) == (401, UNAUTHORIZED)
    assert await av.call("GET", "/api/contacts", account=None) == (401, UNAUTHORIZED)


async def test_the_documents_rules(av):
    assert await av.av("POST", "/api/contacts", json={"last_name": "X"}) == (
        400, {"error": "first_name is required unless crm_id and crm_source are provided"})
    status, body = await av.av("POST", "/api/contacts", json={"first_name": "A", "crm_id": "1"})
    assert status == 400 and set(body) == {"error"} and "crm_source" in body["error"]
    status, c = await av.av("POST", "/api/contacts", json={"crm_id": "7", "crm_source": "zoho"})
    assert status == 200 and c["first_name"] is None
    assert await av.av("POST", "/api/contacts", json={"first_name": "B", "crm_id": "7", "crm_source": "zoho"}) == (
        409, {"error": "A contact with this CRM ID already exists"})
    # the same crm_id from another CRM, or in another account, is another contact
    assert (await av.av("POST", "/api/contacts", json={"first_name": "B", "crm_id": "7", "crm_source": "hubspot"}))[0] == 200
    assert (await av.av("POST", "/api/contacts", account="globex",
                        json={"first_name": "B", "crm_id": "7", "crm_source": "zoho"}))[0] == 200
    status, body = await av.av("POST", "/api/contacts", json={"first_name": "A", "email": "nope"})
    assert status == 400 and set(body) == {"error"} and "email" in body["error"]
    assert await av.av("GET", "/api/contacts/crm/lookup?crm_id=none&crm_source=zoho") == (404, {"error": "Contact not found"})
    status, body = await av.av("GET", "/api/contacts/crm/lookup?crm_id=7")
    assert status == 400 and set(body) == {"error"}


async def test_patch_changes_only_the_fields_sent_and_delete(av):
    _, c = await av.av("POST", "/api/contacts", json={"first_name": "Jane", "last_name": "Smith", "company": "Old"})
    status, p = await av.av("PATCH", f"/api/contacts/{c['id']}", json={"first_name": "Janet", "company": "Updated Corp"})
    assert status == 200 and (p["first_name"], p["last_name"], p["company"]) == ("Janet", "Smith", "Updated Corp")
    assert p["updated_at"] >= c["updated_at"] and p["created_at"] == c["created_at"]
    status, p = await av.av("PATCH", f"/api/contacts/{c['id']}", json=p)  # a GET answer sent back
    assert status == 200
    assert await av.av("DELETE", f"/api/contacts/{c['id']}") == (200, {"message": "Contact deleted successfully"})
    assert await av.av("GET", f"/api/contacts/{c['id']}") == (404, {"error": "Contact not found"})
    assert await av.av("PATCH", f"/api/contacts/{c['id']}", json={"first_name": "X"}) == (404, {"error": "Contact not found"})


async def test_the_crm_webhook_creates_then_updates_with_the_field_variants(av):
    status, body = await av.av("POST", "/api/webhook/crm", json={
        "source": "salesforce", "data": {"crm_id": "CRM123", "firstName": "John", "lastName": "Doe",
                                         "emailAddress": "john@example.com", "phoneNumber": 15808675309,
                                         "companyName": "Example Corp", "Industry": "ignored", "OwnerId": 5}})
    assert status == 201 and body["message"] == "Contact created successfully", body
    c = body["contact"]
    assert set(c) == FIELDS - {"last_task_run", "total_tasks_run"}
    assert (c["first_name"], c["last_name"], c["email"], c["phone"], c["company"]) == (
        "John", "Doe", "john@example.com", "+15808675309", "Example Corp")
    status, body = await av.av("POST", "/api/webhook/crm", json={
        "source": "salesforce", "data": {"crm_id": "CRM123", "organization": "New Name"}})
    assert status == 200 and body["message"] == "Contact updated successfully"
    assert (body["contact"]["id"], body["contact"]["first_name"], body["contact"]["company"]) == (c["id"], "John", "New Name")
    status, body = await av.av("POST", "/api/webhook/crm", json={"source": "hubspot", "data": {"crm_id": 42, "name": None}})
    assert status == 201 and body["contact"]["first_name"] == "Unknown" and body["contact"]["crm_id"] == "42"


@pytest.mark.parametrize("payload", [{}, {"source": "x"}, {"data": {"crm_id": "1"}}, {"source": "x", "data": {}},
                                     {"source": "", "data": {"crm_id": "1"}}, {"source": "x", "data": "flat"},
                                     [], "text", None])
async def test_a_webhook_without_source_data_or_crm_id_is_400(av, payload):
    status, body = await av.av("POST", "/api/webhook/crm", json=payload)
    assert (status, body) == (400, {"error": "Invalid payload: source, data, and data.crm_id are required"})


async def test_twenty_concurrent_deliveries_of_one_crm_contact_make_one_contact(av):
    results = await asyncio.gather(*(av.av("POST", "/api/webhook/crm", json={
        "source": "salesforce", "data": {"crm_id": "RACE", "first_name": f"Try {i}"}}) for i in range(20)))
    assert sorted(s for s, _ in results) == [200] * 19 + [201]
    assert len({b["contact"]["id"] for _, b in results}) == 1
    listed = (await av.av("GET", "/api/contacts"))[1]
    assert [c["crm_id"] for c in listed] == ["RACE"]


async def test_one_store_agentvoice_and_webfones_see_each_others_writes(av):
    _, c = await av.av("POST", "/api/contacts", json={"first_name": "Ada", "phone": "555-222-3333", "company": "Org"})
    wf = await av.ok("GET", f"/contacts/contacts/{c['id']}")
    assert (wf["firstname"], wf["organization"], wf["mobile_phone"]) == ("Ada", "Org", "5552223333")
    hit = await av.ok("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": "+1 555 222 3333"})
    assert hit["uuid"] == c["id"]
    before = wf["version"]
    await av.av("PATCH", f"/api/contacts/{c['id']}", json={"last_name": "Lovelace"})
    sync = await av.ok("GET", f"/contacts/contactsAfterVersion/{before}")
    assert [(u["uuid"], u["lastname"]) for u in sync["updated"]] == [(c["id"], "Lovelace")]
    uuid = (await av.ok("POST", "/contacts/contacts", json={"firstname": "Grace", "mobile_phone": "5554445555"}))["uuid"]
    got = (await av.av("GET", f"/api/contacts/{uuid}"))[1]
    assert (got["first_name"], got["phone"], got["user_id"]) == ("Grace", "+15554445555", None)
    await av.av("DELETE", f"/api/contacts/{c['id']}")
    sync = await av.ok("GET", f"/contacts/contactsAfterVersion/{before}")
    assert [d["uuid"] for d in sync["deleted"]] == [c["id"]]
