"""The Relatel Contacts API (/api/v2) as its document shows it, over the same contacts."""

from __future__ import annotations

import pytest

from callbridge.admin.routes import EXTENSIONS
from callbridge.web import middleware as mw

RELATEL = {"name": "Relatel A/S", "number": "4571999999", "email": "kundeservice@relatel.dk"}


@pytest.fixture
async def dk(api):
    await api.app[mw.ACCOUNT].set_region("acme", "DK")
    return api


async def test_the_documents_example_round_trips(dk):
    made = await dk.ok("POST", "/api/v2/contacts", json={"contact": RELATEL})
    c = made["contact"]
    assert set(c) == {"id", "name", "number", "number_formatted", "email"} and isinstance(c["id"], int)
    assert {k: c[k] for k in RELATEL} == RELATEL and c["number_formatted"] == "71 99 99 99"
    assert await dk.ok("GET", f"/api/v2/contacts/{c['id']}") == {"contact": c}
    assert await dk.ok("GET", "/api/v2/contacts") == {"contacts": [c]}


@pytest.mark.parametrize("spelling", ["4571999999", "+4571999999", "004571999999", "71999999",
                                      "+45 71 99 99 99", "71%2099%2099%2099"])
async def test_by_number_finds_any_written_form(dk, spelling):
    c = (await dk.ok("POST", "/api/v2/contacts", json={"contact": {**RELATEL, "number": "+45 71 99 99 99"}}))["contact"]
    assert c["number"] == "4571999999"
    assert (await dk.ok("GET", f"/api/v2/contacts/by_number/{spelling}"))["contact"]["id"] == c["id"]


async def test_by_number_404_and_several_give_the_oldest(dk):
    status, body = await dk.call("GET", "/api/v2/contacts/by_number/4512345678")
    assert status == 404 and body["error"] == "Contact not found"
    first = (await dk.ok("POST", "/api/v2/contacts", json={"contact": {"name": "First", "number": "71999999"}}))["contact"]
    await dk.ok("POST", "/contacts/contacts", json={"firstname": "Second", "phone_numbers": ["+4571999999"]})
    assert (await dk.ok("GET", "/api/v2/contacts/by_number/4571999999"))["contact"]["id"] == first["id"]
    status, body = await dk.call("GET", "/api/v2/contacts/by_number/71-XX")
    assert status == 400 and body["field"] == "number"


async def test_list_paging_by_id_number_filter_and_limits(dk):
    ids = [(await dk.ok("POST", "/api/v2/contacts", json={"contact": {"name": f"C{i}", "number": f"7100000{i}"}}))["contact"]["id"]
           for i in range(12)]
    assert [c["id"] for c in (await dk.ok("GET", "/api/v2/contacts"))["contacts"]] == ids[:10]  # default 10
    page = await dk.ok("GET", f"/api/v2/contacts?limit=3&id_gt_or_eq={ids[4]}")
    assert [c["id"] for c in page["contacts"]] == ids[4:7]
    only = await dk.ok("GET", "/api/v2/contacts?number=%2B4571000003")
    assert [c["id"] for c in only["contacts"]] == [ids[3]]
    for bad in ("limit=101", "limit=0", "id_gt_or_eq=-1", "number=abc", "sort=name"):
        status, body = await dk.call("GET", f"/api/v2/contacts?{bad}")
        assert status == 400, (bad, body)


async def test_update_delete_and_ids_never_reused(dk):
    c = (await dk.ok("POST", "/api/v2/contacts", json={"contact": RELATEL}))["contact"]
    updated = (await dk.ok("PUT", f"/api/v2/contacts/{c['id']}", json={"contact": {"email": "ny@relatel.dk"}}))["contact"]
    assert (updated["name"], updated["number"], updated["email"]) == ("Relatel A/S", "4571999999", "ny@relatel.dk")
    assert (await dk.ok("PUT", f"/api/v2/contacts/{c['id']}", json={"contact": updated}))["contact"] == updated
    assert await dk.ok("DELETE", f"/api/v2/contacts/{c['id']}") == {}
    assert (await dk.call("GET", f"/api/v2/contacts/{c['id']}"))[0] == 404
    again = (await dk.ok("POST", "/api/v2/contacts", json={"contact": RELATEL}))["contact"]
    assert again["id"] > c["id"], "a deleted contact's id was handed out again"
    for bad in ({}, {"contact": {"name": 5}}, {"contact": {"nmae": "x"}}, {"contact": {}}, {"name": "flat"}):
        status, body = await dk.call("POST", "/api/v2/contacts", json=bad)
        assert status == 400, (bad, body)
    assert (await dk.call("GET", "/api/v2/contacts/abc"))[0] == 400
    assert (await dk.call("PUT", "/api/v2/contacts/999999", json={"contact": {"name": "x"}}))[0] == 404


async def test_one_store_across_the_three_dialects(dk):
    orgs = {"x-organization-id": (await dk.app[mw.ACCOUNT].store.find_account("acme")).uuid}
    r = (await dk.ok("POST", "/api/v2/contacts", json={"contact": RELATEL}))["contact"]
    wf = (await dk.ok("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": "71 99 99 99"}))
    assert (wf["firstname"], wf["mobile_phone"], wf["email"]) == ("Relatel A/S", "4571999999", RELATEL["email"])
    status, av = await dk.call("GET", f"/api/contacts/{wf['uuid']}", headers=orgs)
    assert status == 200 and (av["first_name"], av["phone"]) == ("Relatel A/S", "+4571999999")
    # written through AgentVoice, read through Relatel; names map both ways
    status, made = await dk.call("POST", "/api/contacts", headers=orgs, json={"first_name": "Jens", "last_name": "Hansen", "phone": "004522334455"})
    other = (await dk.ok("GET", "/api/v2/contacts/by_number/22334455"))["contact"]
    assert (other["name"], other["number"], other["number_formatted"]) == ("Jens Hansen", "4522334455", "22 33 44 55")
    org_only = await dk.ok("POST", "/contacts/contacts", json={"organization": "Acme ApS", "mobile_phone": "33 44 55 66"})
    assert (await dk.ok("GET", "/api/v2/contacts/by_number/33445566"))["contact"]["name"] == "Acme ApS"
    # a deletion through Relatel is a tombstone in WebFones sync
    version = wf["version"]
    await dk.ok("DELETE", f"/api/v2/contacts/{r['id']}")
    sync = await dk.ok("GET", f"/contacts/contactsAfterVersion/{version}")
    assert wf["uuid"] in [d["uuid"] for d in sync["deleted"]] and org_only["uuid"]


async def test_a_contact_written_through_relatel_names_calls_in_the_call_log(dk):
    from tests.calllog.master_csv import inbound
    from tests.calllog.test_durability import ingest_over_ami

    await dk.app[EXTENSIONS].add("acme", "309")
    await dk.ok("POST", "/api/v2/contacts", json={"contact": RELATEL})
    await ingest_over_ami(dk, inbound(1, "+4571999999"))
    [row] = (await dk.ok("GET", "/call_log/records_after_timestamp?timestamp=2020-01-01 00:00:00"))["records"]
    assert row["cidname_outside"] == "Relatel A/S"


async def test_openapi_documents_each_dialect_under_its_tag(dk):
    doc = await dk.ok("GET", "/openapi.json", account=None)
    tags = {path: {op["tags"][0] for op in ops.values()} for path, ops in doc["paths"].items()}
    assert tags["/api/v2/contacts/by_number/{number}"] == {"relatel"}
    assert tags["/api/contacts/crm/lookup"] == {"agentvoice"} and tags["/api/webhook/crm"] == {"agentvoice"}
    assert tags["/contacts/contacts"] == {"contacts"}
    relatel = doc["paths"]["/api/v2/contacts"]["get"]
    assert {p["name"] for p in relatel["parameters"]} == {"number", "limit", "id_gt_or_eq"}
