"""Authentication (x-api-key, Bearer, revoked keys) and the per-key / per-IP rate limit."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import create_app
from callbridge.web import middleware as mw
from tests.conftest import Api, make_settings


async def test_health_needs_no_key_status_does(api):
    status, body = await api.call("GET", "/health", account=None)
    assert status == 200 and body["status"] == "healthy" and "contacts" in body["services"]
    assert await api.call("GET", "/status", account=None) == (401, {
        "error": "API key is required",
        "message": "Please provide API key in x-api-key header or Authorization header"})
    body = await api.ok("GET", "/status")
    assert body["services"]["contacts"]["status"] == "online"


async def test_bearer_and_header_keys_work_and_bad_keys_are_403(api):
    key = api.keys["acme"]
    assert (await api.call("GET", "/contacts/contacts", account=None,
                           headers={"Authorization": f"Bearer {key}"}))[0] == 200
    for bad in ("nope", key[:-1] + ("A" if key[-1] != "A" else "B"), "cb_000000000000_" + "x" * 43):
        status, body = await api.call("GET", "/contacts/contacts", account=None,
                                      headers={"x-api-key": bad})
        assert status == 403 and body["error"] == "Invalid API key", bad


async def test_revoked_key_is_refused(api):
    accounts = api.app[mw.ACCOUNT]
    info, key = await accounts.create_key("acme")
    api.keys["spare"] = key
    assert (await api.call("GET", "/contacts/contacts", account="spare"))[0] == 200
    await accounts.revoke_key(info.id)
    assert (await api.call("GET", "/contacts/contacts", account="spare"))[0] == 403


async def test_keys_are_stored_only_as_hashes(api):
    rows = await api.app[mw.ACCOUNT].store.db.fetchall("SELECT id, key_hash FROM api_keys")
    stored = " ".join(f"{r['id']} {r['key_hash']}" for r in rows)
    for key in api.keys.values():
        assert key not in stored and key[16:] not in stored  # cb_<12-hex id>_<secret>


async def _limited_api(tmp_path, limit="3/15m"):
    app = create_app(make_settings(tmp_path, rate_limit=limit))
    client = TestClient(TestServer(app))
    await client.start_server()
    keys = {n: (await app[mw.ACCOUNT].create_key(n))[1] for n in ("acme", "globex")}
    return Api(client, keys, app)


async def test_rate_limit_per_key_with_headers_and_429(tmp_path):
    api = await _limited_api(tmp_path)
    try:
        remaining = []
        for _ in range(3):
            assert (await api.call("GET", "/contacts/groups"))[0] == 200
            assert api.last_headers["RateLimit-Limit"] == "3"
            remaining.append(int(api.last_headers["RateLimit-Remaining"]))
            assert 0 < int(api.last_headers["RateLimit-Reset"]) <= 900
        assert remaining == [2, 1, 0]
        status, body = await api.call("GET", "/contacts/groups")
        assert status == 429
        assert body["error"] == "Too many requests for this API key, please try again later."
        assert 0 < int(api.last_headers["Retry-After"]) <= 900
        # another key has its own budget
        assert (await api.call("GET", "/contacts/groups", account="globex"))[0] == 200
    finally:
        await api.client.close()


async def test_rate_limit_per_ip_without_key(tmp_path):
    api = await _limited_api(tmp_path, "2/1m")
    try:
        assert (await api.call("GET", "/contacts/groups", account=None))[0] == 401
        assert (await api.call("GET", "/contacts/groups", account=None,
                               headers={"x-api-key": "garbage"}))[0] == 403
        status, body = await api.call("GET", "/contacts/groups", account=None)
        assert status == 429
        assert body["error"] == "Too many requests from this IP, please try again later."
        assert (await api.call("GET", "/health", account=None))[0] == 200  # health not limited
    finally:
        await api.client.close()
