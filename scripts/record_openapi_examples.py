"""Records the OpenAPI document's examples from real calls: each operation is called once on a
fresh in-process callbridge with realistic data, and its request body and answer are written to
src/callbridge/web/openapi_examples.json, which openapi_document() puts into /openapi.json and
/docs. Real answers, not hand-written ones: an example can't drift from what the API does
(tests/system/test_docs.py also validates every example against its models).

    .venv/bin/python scripts/record_openapi_examples.py

Operations that need a live PBX (the dialer, caller ID, the event stream) are recorded from
their documented shapes in MANUAL below.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from callbridge.app import create_app  # noqa: E402
from callbridge.calllog import routes as calllog_routes  # noqa: E402
from callbridge.dialer import routes as dialer_routes  # noqa: E402
from callbridge.settings import Settings  # noqa: E402
from callbridge.web import middleware as mw  # noqa: E402

from tests.calllog.test_builder import PICKUP  # noqa: E402

OUT = ROOT / "src" / "callbridge" / "web" / "openapi_examples.json"

MANUAL = {
    "GET /presence": (None, [
        {"extension": "309", "name": "Front desk", "state": "busy", "devices": 2},
        {"extension": "310", "name": "Back office", "state": "available", "devices": 1},
        {"extension": "311", "name": "Warehouse", "state": "offline", "devices": 0}]),
    "POST /dialer/call": ({"extension": "309", "phonenumber": "+1 580 867 5309"},
                          {"status": "200", "message": "Success",
                           "call_id": "9f0c2a4e-6b1d-4f7e-9a53-2f1d8c0b7e11"}),
    "GET /dialer/calls/{call_id}": (None, {
        "call_id": "9f0c2a4e-6b1d-4f7e-9a53-2f1d8c0b7e11", "extension": "309",
        "phonenumber": "+15808675309", "state": "connected", "device": "PJSIP/309-00000004",
        "failure_reason": None, "hangup_cause": None,
        "timestamps": {"queued": "2026-11-29T09:30:00.120Z", "ringing": "2026-11-29T09:30:00.180Z",
                       "answered": "2026-11-29T09:30:03.410Z",
                       "connected": "2026-11-29T09:30:05.020Z"}}),
    "GET /events": (None, {"id": 17, "type": "call.ringing", "time": "2026-11-29T09:30:00.123Z",
                           "data": {"call_id": "1764408600.42", "direction": "inbound",
                                    "extension": "309", "devices": ["sip:309@10.0.0.21:5060",
                                                                    "sip:309@10.0.0.57:5062"],
                                    "caller": "5557770101", "caller_name": None, "called": "309",
                                    "number": "5557770101",
                                    "contact": {"uuid": "0b8f5d0e-5f7c-4a47-b0a4-3c6f1f0d2a11",
                                                "name": "Grace Hopper", "organization": "Navy",
                                                "note": None, "profile_url": None,
                                                "external_id": "crm-12", "email": None}}}),
}
MANUAL["POST /dailer/call"] = MANUAL["POST /dialer/call"]

ADA = {"firstname": "Ada", "lastname": "Lovelace", "organization": "Analytical Engines",
       "mobile_phone": "+1 555 010 0001", "phone_numbers": ["+1 555 010 0100"],
       "email": "ada@example.com", "city": "London", "note": "Prefers mornings",
       "profile_url": "https://crm.example.com/contacts/1", "external_id": "crm-1"}


async def record() -> dict:
    examples: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database=Path(tmp) / "cb.db", cdr_csv=None,
                                  webhook_allow_private=True))
        async with TestClient(TestServer(app)) as client:
            key = (await app[mw.ACCOUNT].create_key("acme"))[1]
            admin = (await app[mw.ACCOUNT].create_admin_key())[1]
            await app[dialer_routes.SERVICE].extensions.add("acme", "309", None, "Front desk")
            org = (await app[mw.ACCOUNT].get_account("acme")).uuid

            async def call(method, path, template=None, body=None, raw=None, headers=None,
                           as_key=None, name=None):
                h = {"x-api-key": as_key or key, **(headers or {})}
                resp = await client.request(method, path, json=body, data=raw, headers=h)
                text = await resp.text()
                answer = json.loads(text) if "json" in resp.headers.get("Content-Type", "") else text
                op = f"{method} {template or path}"
                if resp.status < 300:
                    examples.setdefault(op, {"status": resp.status, "request": body,
                                             "response": answer})
                else:
                    raise RuntimeError(f"{op}: {resp.status} {text[:300]}")
                return answer

            await call("GET", "/health")
            await call("GET", "/ready")
            await call("GET", "/status")
            ada = (await call("POST", "/contacts/contacts", body=ADA))["uuid"]
            await call("POST", "/contacts/contacts", body={
                "firstname": "Grace", "lastname": "Hopper", "organization": "US Navy",
                "mobile_phone": "+1 555 010 0002", "external_id": "crm-2"})
            await call("GET", "/contacts/contacts")
            await call("GET", f"/contacts/contacts/{ada}", "/contacts/contacts/{contactId}")
            await call("PUT", f"/contacts/contacts/{ada}", "/contacts/contacts/{contactId}",
                       body={"city": "Marylebone", "note": None})
            await call("POST", "/contacts/contacts/search/mobile", body={"mobile_phone": "5550100001"})
            await call("POST", "/contacts/contacts/search/mobile/like", body={"mobile_phone": "0100"})
            await call("POST", "/contacts/contacts/search/name", body={"searchString": "ada"})
            await call("POST", "/contacts/contacts/search/email", body={"email_address": "ada@example.com"})
            await call("POST", "/contacts/contacts/search/mobile/batch",
                       body={"mobile_phones": ["+1 555 010 0001", "5550100002"]})
            await call("POST", "/contacts/contacts/search/phones",
                       body={"phone_numbers": ["5550100100", "5550100009"]})
            await call("POST", "/contacts/contacts/search/phone/exact",
                       body={"phone_number": "(555) 010-0100"})
            await call("POST", "/contacts/contacts/search", body={"searchString": "love"})
            await call("GET", "/contacts/contactsAfterVersion/1", "/contacts/contactsAfterVersion/{version}")
            group = (await call("POST", "/contacts/groups", body={"name": "VIP"}))["uuid"]
            await call("GET", "/contacts/groups")
            await call("POST", "/contacts/contact_groups",
                       body={"fk_contact_uuid": ada, "fk_group_uuid": group})
            await call("GET", f"/contacts/groups/{group}/contacts", "/contacts/groups/{groupUuid}/contacts")
            await call("DELETE", "/contacts/contact_groups",
                       body={"fk_contact_uuid": ada, "fk_group_uuid": group})
            await call("DELETE", f"/contacts/groups/{group}", "/contacts/groups/{groupUuid}")
            await call("GET", "/contacts/contacts/external/crm-2", "/contacts/contacts/external/{externalId}")
            await call("PUT", "/contacts/contacts/external/crm-2", "/contacts/contacts/external/{externalId}",
                       body={"organization": "Yale"})
            await call("GET", "/contacts/export?format=csv", "/contacts/export")
            csv_text = ("external_id,firstname,lastname,mobile_phone,email\r\n"
                        "crm-7,Katherine,Johnson,+1 555 010 0007,kj@example.com\r\n"
                        "crm-8,Bad,Mail,5550100008,not-an-email\r\n")
            resp = await client.post("/contacts/import?format=csv", data=csv_text.encode(),
                                     headers={"x-api-key": key})
            examples["POST /contacts/import"] = {"status": resp.status, "request": csv_text,
                                                 "response": await resp.json()}
            av = {"x-organization-id": org}
            made = await call("POST", "/api/contacts", headers=av, body={
                "first_name": "Dorothy", "last_name": "Vaughan", "email": "dv@example.com",
                "phone": "+1 555 010 0003", "company": "NASA", "crm_id": "SF-3",
                "crm_source": "salesforce"})
            cid = made["id"]
            await call("GET", "/api/contacts", headers=av)
            await call("GET", "/api/contacts/crm/lookup?crm_id=SF-3&crm_source=salesforce",
                       "/api/contacts/crm/lookup", headers=av)
            await call("GET", f"/api/contacts/{cid}", "/api/contacts/{id}", headers=av)
            await call("PATCH", f"/api/contacts/{cid}", "/api/contacts/{id}", headers=av,
                       body={"company": "NACA"})
            await call("POST", "/api/webhook/crm", headers=av, body={
                "source": "hubspot", "data": {"crm_id": "HS-9", "firstName": "Mary",
                                              "lastName": "Jackson", "phoneNumber": "5550100009",
                                              "companyName": "NASA"}})
            await call("DELETE", f"/api/contacts/{cid}", "/api/contacts/{id}", headers=av)
            rel = await call("POST", "/api/v2/contacts", body={"contact": {
                "name": "Evelyn Boyd", "number": "+1 555 010 0004", "email": "eb@example.com"}})
            rid = rel["contact"]["id"]
            await call("GET", "/api/v2/contacts")
            await call("GET", "/api/v2/contacts/by_number/5550100004", "/api/v2/contacts/by_number/{number}")
            await call("GET", f"/api/v2/contacts/{rid}", "/api/v2/contacts/{id}")
            await call("PUT", f"/api/v2/contacts/{rid}", "/api/v2/contacts/{id}",
                       body={"contact": {"email": "evelyn@example.com"}})
            await call("DELETE", f"/api/v2/contacts/{rid}", "/api/v2/contacts/{id}")
            await call("DELETE", "/contacts/contacts/external/crm-2", "/contacts/contacts/external/{externalId}")
            await call("DELETE", f"/contacts/contacts/{ada}", "/contacts/contacts/{contactId}")
            await call("GET", "/call_log/records_after_timestamp?timestamp=2026-11-29%2000:00:00",
                       "/call_log/records_after_timestamp")
            # a call's story, from the CDRs Asterisk 16 wrote for a directed pickup on the bench
            # (tests/calllog/test_builder.py PICKUP: 310 picked up 309's ringing call)
            await app[dialer_routes.SERVICE].extensions.add("acme", "310", None, "Back office")
            log = app[calllog_routes.SERVICE]
            for cdr in PICKUP:
                log._queue.append({"lastapp": "Dial", **cdr, "source": "ami", "duration": 0})
                log._pending[cdr["linkedid"]] = 0.0
            await log.flush(final=True)
            await call("GET", "/calls/P.0", "/calls/{linked_id}")
            await call("GET", "/extensions")
            await call("GET", "/whoami")
            await call("POST", "/events/ticket")
            hook = await call("POST", "/webhooks", body={
                "url": "https://crm.example.com/hooks/pbx", "types": ["call.*"]})
            await call("GET", "/webhooks")
            await call("POST", f"/webhooks/{hook['id']}/enable", "/webhooks/{id}/enable")
            await call("POST", f"/webhooks/{hook['id']}/test", "/webhooks/{id}/test")
            await asyncio.sleep(0.5)  # the sender tries it (example.com: refused here)
            await call("GET", f"/webhooks/{hook['id']}/deliveries", "/webhooks/{id}/deliveries")
            await call("DELETE", f"/webhooks/{hook['id']}", "/webhooks/{id}")
            acct = await call("POST", "/admin/accounts", as_key=admin,
                              body={"name": "initech", "region": "DK"})
            await call("GET", "/admin/accounts", as_key=admin)
            await call("PATCH", f"/admin/accounts/{acct['id']}", "/admin/accounts/{id}",
                       as_key=admin, body={"name": "initrode"})
            k = await call("POST", f"/admin/accounts/{acct['id']}/keys", "/admin/accounts/{id}/keys",
                           as_key=admin, body={"preset": "receptionist", "expires": "90d"})
            await call("GET", f"/admin/accounts/{acct['id']}/keys", "/admin/accounts/{id}/keys",
                       as_key=admin)
            await call("DELETE", f"/admin/accounts/{acct['id']}/keys/{k['id']}",
                       "/admin/accounts/{id}/keys/{key_id}", as_key=admin)
            await call("POST", "/admin/extensions", as_key=admin, body={
                "extension": "401", "account": acct["id"], "mobile": "+45 20 30 40 50",
                "name": "Peter"})
            await call("GET", "/admin/extensions", as_key=admin)
            await call("DELETE", "/admin/extensions/401", "/admin/extensions/{extension}", as_key=admin)
            await call("DELETE", f"/admin/accounts/{acct['id']}?confirm=initrode",
                       "/admin/accounts/{id}", as_key=admin)
            await call("GET", "/admin/audit?action=key&limit=2", "/admin/audit", as_key=admin)
    for op, (request, response) in MANUAL.items():
        examples[op] = {"status": 200, "request": request, "response": response}
    examples["GET /callerid"] = {"status": 200, "request": None, "response": "CB:Grace Hopper"}
    return dict(sorted(examples.items()))


if __name__ == "__main__":
    found = asyncio.run(record())
    OUT.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(found)} operations recorded into {OUT.relative_to(ROOT)}")
