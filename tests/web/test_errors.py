"""Every bad input is a 4xx JSON error naming the problem; unexpected failures are a bare 500."""

from __future__ import annotations

import pytest

from callbridge.contacts.routes import SERVICE


@pytest.mark.parametrize("method,path,payload,field", [
    ("POST", "/contacts/contacts", b"{not json", "body"),
    ("POST", "/contacts/contacts", b"[1, 2]", "body"),
    ("POST", "/contacts/contacts", b"", "body"),
    ("POST", "/contacts/contacts", b'{"firstname": 5}', "firstname"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "organization_flag": "maybe"}', "organization_flag"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "user_id": "one"}', "user_id"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "user_id": "12"}', "user_id"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "organization_flag": "yes"}', "organization_flag"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "version": false}', "version"),
    ("POST", "/contacts/contacts/search/mobile/like", b'{"mobile_phone": "555", "limit": "10"}', "limit"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "phone_numbers": "5551234"}', "phone_numbers"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "mobilephone": "5551234"}', "mobilephone"),
    ("POST", "/contacts/contacts", b'{"firstname": "' + b"x" * 256 + b'"}', "firstname"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "note": "' + b"x" * 10001 + b'"}', "note"),
    ("POST", "/contacts/contacts/search/mobile", b"{}", "mobile_phone"),
    ("POST", "/contacts/contacts/search/name", b'{"searchString": "   "}', "searchString"),
    ("POST", "/contacts/contacts/search/mobile/batch", b'{"mobile_phones": []}', "mobile_phones"),
    ("POST", "/contacts/groups", b'{"name": ""}', "name"),
    ("POST", "/contacts/contact_groups", b'{"fk_contact_uuid": "x"}', "fk_group_uuid"),
    ("GET", "/contacts/contactsAfterVersion/abc", None, "version"),
    ("GET", "/contacts/contactsAfterVersion/-1", None, "version"),
    ("GET", "/contacts/contacts?limit=0", None, "limit"),
    # past SQLite's 64-bit integers: a 400 here, not an OverflowError (500) in the database
    ("GET", "/contacts/contacts?offset=32547003675966458592177049042944", None, "offset"),
    ("GET", "/contacts/contactsAfterVersion/310085825440275747510943744", None, "version"),
    ("GET", "/call_log/records_after_timestamp?timestamp=2026-01-01%2000:00:00&after=99999999999999999999", None, "after"),
    ("POST", "/contacts/contacts", b'{"firstname": "a", "user_id": 99999999999999999999}', "user_id"),
])
async def test_bad_input_is_400_naming_the_field(api, method, path, payload, field):
    status, body = await api.call(method, path, data=payload,
                                  headers={"Content-Type": "application/json"})
    assert status == 400, body
    assert body["field"] == field and body["error"] and body["message"], body
    where = "body" if payload is not None else ("query" if "?" in path else "path")
    expected = {"body": ("Invalid request body", "Invalid JSON"),
                "query": ("Invalid query parameter",), "path": ("Invalid path parameter",)}[where]
    assert body["error"] in expected, body


async def test_oversize_body_is_413_json(api):
    status, body = await api.call("POST", "/contacts/contacts",
                                  data=b'{"note": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    assert status == 413 and body["error"] == "Payload too large" and "bytes" in body["message"]


async def test_unknown_path_and_method_are_json(api):
    status, body = await api.call("GET", "/nope")
    assert status == 404 and body["error"] == "Not found"
    status, body = await api.call("PATCH", "/contacts/groups")
    assert status == 405 and body["error"] == "Method not allowed"


async def test_failed_write_leaves_nothing_behind(api):
    await api.ok("POST", "/contacts/contacts", json={"firstname": "A", "external_id": "E"})
    before = await api.ok("GET", "/contacts/contactsAfterVersion/0")
    assert (await api.call("POST", "/contacts/contacts", json={"firstname": "B", "external_id": "E"}))[0] == 409
    assert (await api.call("POST", "/contacts/contacts", json={"firstname": "C", "groups": ["x"]}))[0] == 400
    assert await api.ok("GET", "/contacts/contactsAfterVersion/0") == before
    # the version counter did not move either: the next write takes the next number
    await api.ok("POST", "/contacts/contacts", json={"firstname": "D"})
    after = await api.ok("GET", "/contacts/contactsAfterVersion/0")
    assert after["updated"][-1]["version"] == before["updated"][-1]["version"] + 1


async def test_unexpected_exception_is_500_without_internals(api, monkeypatch):
    async def boom(*a, **kw):
        raise RuntimeError("secret internal detail /etc/passwd")
    monkeypatch.setattr(api.app[SERVICE], "get", boom)
    status, body = await api.call("GET", "/contacts/contacts/0b1c7a36-aaaa-4bbb-8ccc-000000000000")
    assert status == 500
    assert body["error"] == "Internal server error" and body["message"] == "An unexpected error occurred"
    assert body["timestamp"].endswith("Z") and "secret" not in str(body)
