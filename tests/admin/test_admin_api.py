"""Management over HTTP: an admin key (made by the CLI) manages accounts, their keys and
extensions, and reads no contacts; account keys get 403 on /admin/…. The CLI and HTTP share the
service layer, so what one does the other sees."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from callbridge.app import create_app
from callbridge.cli import main
from callbridge.web import middleware as mw
from tests.conftest import make_settings
from tests.pg import created_database


@pytest.fixture
async def admin(tmp_path):
    settings = make_settings(tmp_path)
    env = {"CALLBRIDGE_DATABASE": str(settings.database)}
    assert (await asyncio.to_thread(CliRunner().invoke, main, ["db", "init"], env=env)).exit_code == 0
    result = await asyncio.to_thread(CliRunner().invoke, main, ["keys", "create", "--admin"],
                                     env=env)
    assert result.exit_code == 0, result.output
    admin_key = result.output.strip().splitlines()[-1]
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        account_key = (await app[mw.ACCOUNT].create_key("acme"))[1]

        async def call(method, path, key=admin_key, **kw):
            headers = {"x-api-key": key} if key else {}
            resp = await client.request(method, path, headers=headers, **kw)
            return resp.status, await resp.json()
        yield call, account_key, settings


async def test_accounts_keys_and_extensions_over_http(admin):
    call, _, settings = admin
    status, created = await call("POST", "/admin/accounts", json={"name": "initech",
                                                                  "region": "dk"})
    assert status == 201 and created["name"] == "initech" and created["region"] == "DK"
    aid = created["id"]
    assert (await call("POST", "/admin/accounts", json={"name": "initech"}))[0] == 409
    status, listed = await call("GET", "/admin/accounts")
    assert {a["name"] for a in listed} == {"acme", "initech"}

    status, key = await call("POST", f"/admin/accounts/{aid}/keys")
    assert status == 201 and key["key"].startswith(f"cb_{key['id']}_")
    # the new key works for the account's data, and not for /admin
    status, contacts = await call("GET", "/contacts/contacts", key=key["key"])
    assert status == 200 and contacts == []
    status, body = await call("GET", "/admin/accounts", key=key["key"])
    assert status == 403 and body["error"] == "Admin key required"

    status, ext = await call("POST", "/admin/extensions", json={
        "extension": "401", "account": aid, "mobile": "+45 20 30 40 50", "name": "Peter"})
    assert status == 201 and ext["account"] == aid and ext["account_name"] == "initech"
    assert (await call("POST", "/admin/extensions", json={"extension": "401",
                                                          "account": aid}))[0] == 409
    status, exts = await call("GET", f"/admin/extensions?account={aid}")
    assert [e["extension"] for e in exts] == ["401"]
    # the CLI sees what HTTP did
    out = (await asyncio.to_thread(CliRunner().invoke, main, ["extensions", "list"],
                                   env={"CALLBRIDGE_DATABASE": str(settings.database)})).output
    assert "401" in out and "initech" in out

    status, renamed = await call("PATCH", f"/admin/accounts/{aid}", json={"name": "initrode"})
    assert status == 200 and renamed["name"] == "initrode" and renamed["id"] == aid
    status, keys = await call("GET", f"/admin/accounts/{aid}/keys")
    assert [k["id"] for k in keys] == [key["id"]]
    assert (await call("DELETE", f"/admin/accounts/{aid}/keys/{key['id']}"))[0] == 200
    assert (await call("GET", "/contacts/contacts", key=key["key"]))[0] == 403
    assert (await call("DELETE", f"/admin/accounts/{aid}/keys/{key['id']}"))[0] == 404

    assert (await call("DELETE", "/admin/extensions/401"))[0] == 200
    assert (await call("DELETE", "/admin/extensions/401"))[0] == 404


async def test_deleting_an_account_needs_its_name_and_removes_its_data(admin):
    call, account_key, _ = admin
    status, _ = await call("POST", "/contacts/contacts", key=account_key,
                           json={"firstname": "Kept", "mobile_phone": "5551234"})
    assert status == 200
    acme = next(a for a in (await call("GET", "/admin/accounts"))[1] if a["name"] == "acme")
    status, body = await call("DELETE", f"/admin/accounts/{acme['id']}")
    assert status == 400 and body["error"] == "Confirmation required" and body["field"] == "confirm"
    assert (await call("GET", "/contacts/contacts", key=account_key))[0] == 200  # nothing gone
    status, body = await call("DELETE", f"/admin/accounts/{acme['id']}?confirm=acme")
    assert status == 200 and body == {"deleted": acme["id"]}
    assert (await call("GET", "/contacts/contacts", key=account_key))[0] == 403  # its keys went
    assert (await call("GET", f"/admin/accounts/{acme['id']}/keys"))[0] == 404


async def test_an_admin_key_reads_no_account_data_and_bad_input_is_400(admin):
    call, _, _ = admin
    for method, path in (("GET", "/contacts/contacts"), ("GET", "/call_log/records_after_timestamp"
                                                                 "?timestamp=2020-01-01 00:00:00"),
                         ("GET", "/webhooks"), ("POST", "/events/ticket")):
        status, body = await call(method, path)
        assert status == 403 and body["error"] == "Account key required", (path, body)
    assert (await call("POST", "/admin/accounts", json={"name": "bad name"}))[0] == 400
    assert (await call("POST", "/admin/accounts", json={"name": "x", "region": "ZZ"}))[0] == 400
    assert (await call("PATCH", "/admin/accounts/nope", json={"name": "y"}))[0] == 404
    assert (await call("POST", "/admin/extensions", json={"extension": "1;2",
                                                          "account": "nope"}))[0] == 400
    assert (await call("GET", "/admin/accounts", key=None))[0] == 401


def test_keys_create_needs_account_or_admin(tmp_path):
    env = {"CALLBRIDGE_DATABASE": created_database(tmp_path, "cb.db")}
    assert CliRunner().invoke(main, ["keys", "create"], env=env).exit_code == 2
    assert CliRunner().invoke(main, ["keys", "create", "--admin", "--account", "a"],
                              env=env).exit_code == 2
    listed = CliRunner().invoke(main, ["keys", "create", "--admin"], env=env)
    assert listed.exit_code == 0
    out = CliRunner().invoke(main, ["keys", "list"], env=env).output
    assert "(admin)" in out
