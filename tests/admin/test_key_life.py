"""A key's life: scopes and expiry given at creation (CLI and admin API), refused with a clear 401
after it expires, its last use recorded at most once a minute, and every change in the audit
trail (GET /admin/audit and a JSON log line) with who made it. Keys made before scopes existed
keep every account scope."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from callbridge.accounts.service import hash_key, parse_expiry
from callbridge.app import create_app
from callbridge.audit.service import cli_actor
from callbridge.cli import main
from callbridge.errors import InvalidInput
from callbridge.logs import JsonFormatter
from callbridge.db.migrate import available_migrations, migrate
from callbridge.scopes import ACCOUNT_SCOPES, PRESETS
from callbridge.timeutil import iso, utc_now
from callbridge.web import middleware as mw
from tests.conftest import make_settings, sqlite_only
from tests.pg import created_database


def _cli(env: dict, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
async def service(tmp_path):
    """(call, app, env, admin key): a running app beside a database the CLI also works on."""
    settings = make_settings(tmp_path, database=created_database(tmp_path, "cb.db"),
                             webhook_allow_private=True)
    env = {"CALLBRIDGE_DATABASE": str(settings.database)}
    admin_key = (await asyncio.to_thread(_cli, env, "keys", "create", "--admin")) \
        .strip().splitlines()[-1]
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        async def call(method, path, key=admin_key, **kw):
            headers = {"x-api-key": key} if key else {}
            resp = await client.request(method, path, headers=headers, **kw)
            return resp.status, await resp.json()
        yield call, app, env, admin_key


def test_expiry_is_a_span_or_a_date_in_the_future():
    now = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("12h", now) == now + timedelta(hours=12)
    assert parse_expiry("4w", now) == now + timedelta(weeks=4)
    assert parse_expiry("2027-03-31", now) == datetime(2027, 3, 31, tzinfo=timezone.utc)
    assert parse_expiry("2027-03-31T18:00:00+02:00", now) == \
        datetime(2027, 3, 31, 16, 0, tzinfo=timezone.utc)
    for bad, says in (("yesterday", "give a span"), ("0d", "give a span"),
                      ("2026-12-01", "not in the future"), ("5000w", "at most 10 years")):
        with pytest.raises(InvalidInput, match=says):
            parse_expiry(bad, now)


async def test_cli_keys_carry_scopes_and_expiry_and_list_shows_them(service):
    call, app, env, _ = service
    out = await asyncio.to_thread(_cli, env, "keys", "create", "--account", "acme",
                                  "--scope", "contacts:read,dial", "--expires", "90d")
    key = out.strip().splitlines()[-1]
    assert "scopes contacts:read dial, expires 20" in out
    status, me = await call("GET", "/whoami", key)
    assert status == 200 and me["scopes"] == ["contacts:read", "dial"]
    expires = datetime.fromisoformat(me["expires_at"])
    assert abs((expires - utc_now()) - timedelta(days=90)) < timedelta(minutes=1)
    out = await asyncio.to_thread(_cli, env, "keys", "create", "--account", "acme",
                                  "--preset", "receptionist")
    reception = out.strip().splitlines()[-1]
    assert (await call("GET", "/whoami", reception))[1]["scopes"] == sorted(
        PRESETS["receptionist"])
    for bad, says in ((["--scope", "admin"], "admin key"),
                      (["--scope", "contacts:nuke"], "no scope 'contacts:nuke'"),
                      (["--expires", "soon"], "give a span")):
        result = await asyncio.to_thread(CliRunner().invoke, main,
                                         ["keys", "create", "--account", "acme", *bad], env=env)
        assert result.exit_code != 0 and says in result.output, result.output
    await call("GET", "/contacts/contacts", key)  # a use, written at once by keys list below
    await app[mw.ACCOUNT].flush_used()
    listed = await asyncio.to_thread(_cli, env, "keys", "list", "--account", "acme")
    line = next(ln for ln in listed.splitlines() if ln.startswith(me["key_id"]))
    assert "contacts:read,dial" in line and me["expires_at"] in line and "active" in line
    key_id, _, scopes, created, expires_at, last_used, status = line.split()
    assert last_used != "-" and created <= last_used < expires_at


async def test_admin_api_gives_scoped_expiring_keys(service):
    call, app, env, _ = service
    status, acct = await call("POST", "/admin/accounts", json={"name": "initech"})
    status, made = await call("POST", f"/admin/accounts/{acct['id']}/keys",
                              json={"preset": "reporting", "scopes": ["dial"], "expires": "7d"})
    assert status == 201 and made["scopes"] == ["calllog:read", "contacts:read", "dial"]
    assert made["expires_at"] is not None
    status, body = await call("POST", f"/admin/accounts/{acct['id']}/keys",
                              json={"scopes": ["admin"]})
    assert status == 400 and body["field"] == "scope"
    status, body = await call("POST", f"/admin/accounts/{acct['id']}/keys", json={"scopes": []})
    assert status == 400 and "at least one" in body["message"]
    status, body = await call("POST", f"/admin/accounts/{acct['id']}/keys",
                              json={"expires": "-1d"})
    assert status == 400 and body["field"] == "expires"
    # no body: every account scope, no expiry (as before scopes)
    status, full = await call("POST", f"/admin/accounts/{acct['id']}/keys")
    assert status == 201 and set(full["scopes"]) == ACCOUNT_SCOPES and full["expires_at"] is None
    status, keys = await call("GET", f"/admin/accounts/{acct['id']}/keys")
    by_id = {k["id"]: k for k in keys}
    assert by_id[made["id"]]["scopes"] == made["scopes"]
    assert by_id[made["id"]]["expires_at"] == made["expires_at"]
    # the admin API never makes an account by giving it a key
    status, _ = await call("POST", "/admin/accounts/nope/keys")
    assert status == 404


async def test_an_expired_key_is_refused_with_a_clear_401_and_noted_once(service):
    call, app, env, _ = service
    accounts = app[mw.ACCOUNT]
    info, key = await accounts.create_key("acme", expires="1h")
    assert (await call("GET", "/contacts/contacts", key))[0] == 200
    # an hour later (the stored expiry moved back), with the grant still in the auth cache
    past = iso(utc_now() - timedelta(seconds=1))
    async with app[mw.ACCOUNT].store.db.transaction() as tx:
        await tx.execute("UPDATE api_keys SET expires_at = ? WHERE id = ?", (past, info.id))
    accounts._auth_cache.clear()
    status, body = await call("GET", "/contacts/contacts", key)
    assert status == 401 and body["error"] == "API key expired"
    assert info.id in body["message"] and past[:19] in body["message"]
    # AgentVoice keeps its own 401 text, and says why
    status, body = await call("GET", "/api/contacts", key)
    assert status == 401 and body["error"] == "Invalid API key or organization ID"
    assert "expired" in body["message"]
    assert not await accounts.key_active(info.id)  # an open event stream ends
    assert await accounts.note_expired() == 1
    assert await accounts.note_expired() == 0  # noted once
    status, page = await call("GET", "/admin/audit?action=key.expired")
    assert [(e["actor"], e["target"]) for e in page["entries"]] == [("system", info.id)]


async def test_last_use_is_written_at_most_once_a_minute(service):
    call, app, env, _ = service
    accounts = app[mw.ACCOUNT]
    info, key = await accounts.create_key("acme")
    writes = []
    real = accounts.store.note_used

    async def counted(used):
        writes.append(dict(used))
        await real(used)
    accounts.store.note_used = counted
    for _ in range(20):
        assert (await call("GET", "/contacts/contacts", key))[0] == 200
    accounts._auth_cache.clear()  # also past the auth cache: still no second write
    assert (await call("GET", "/contacts/contacts", key))[0] == 200
    await accounts.flush_used()
    await accounts.flush_used()
    assert [list(w) for w in writes if w] == [[info.id]]
    listed = {k.id: k for k in await accounts.list_keys("acme")}
    assert listed[info.id].last_used_at is not None
    # a minute on, the next use is queued again
    accounts._used_noted[info.id] -= 61
    assert (await call("GET", "/contacts/contacts", key))[0] == 200
    assert info.id in accounts._used


class _Lines(logging.Handler):
    """The audit logger's lines as the service writes them (JSON): the in-process CLI resets the
    root logger's handlers, so caplog would miss them."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


async def test_every_change_is_in_the_audit_trail_with_who_made_it(service):
    call, app, env, admin_key = service
    admin_id = admin_key[3:15]
    logged = _Lines()
    logging.getLogger("callbridge.audit").addHandler(logged)
    logging.getLogger("callbridge.audit").setLevel(logging.INFO)
    # the operator's shell
    await asyncio.to_thread(_cli, env, "accounts", "add", "acme")
    out = await asyncio.to_thread(_cli, env, "keys", "create", "--account", "acme",
                                  "--preset", "crm-sync")
    crm_key = out.strip().splitlines()[-1]
    crm_id = crm_key[3:15]
    await asyncio.to_thread(_cli, env, "extensions", "add", "--account", "acme", "309")
    await asyncio.to_thread(_cli, env, "extensions", "remove", "309")
    # the admin API
    status, acct = await call("POST", "/admin/accounts", json={"name": "initech"})
    status, made = await call("POST", f"/admin/accounts/{acct['id']}/keys", json={
        "preset": "receptionist"})
    await call("DELETE", f"/admin/accounts/{acct['id']}/keys/{made['id']}")
    await call("PATCH", f"/admin/accounts/{acct['id']}", json={"region": "DK"})
    # an account key: webhooks and an import
    status, hook = await call("POST", "/webhooks", crm_key, json={
        "url": "http://127.0.0.1:9/hooks?token=s3cret", "types": ["call.*"]})
    assert status == 201, hook
    await call("DELETE", f"/webhooks/{hook['id']}", crm_key)
    status, report = await call("POST", "/contacts/import?format=csv", crm_key,
                                data=b"firstname,mobile_phone\r\nAda,+1 555 010 0001\r\n")
    assert status == 200 and report["created"] == 1
    await call("DELETE", f"/admin/accounts/{acct['id']}?confirm=initech")

    status, page = await call("GET", "/admin/audit?limit=1000")
    seen = [(e["actor"], e["action"], e["account_name"], e["target"])
            for e in reversed(page["entries"])]
    me = cli_actor()
    assert seen == [
        (me, "key.created", None, admin_id),
        (me, "account.created", "acme", None),
        (me, "key.created", "acme", crm_id),
        (me, "extension.added", "acme", "309"),
        (me, "extension.removed", "acme", "309"),
        (f"admin-key:{admin_id}", "account.created", "initech", None),
        (f"admin-key:{admin_id}", "key.created", "initech", made["id"]),
        (f"admin-key:{admin_id}", "key.revoked", "initech", made["id"]),
        (f"admin-key:{admin_id}", "account.region_set", "initech", None),
        (f"key:{crm_id}", "webhook.added", "acme", hook["id"]),
        (f"key:{crm_id}", "webhook.removed", "acme", hook["id"]),
        (f"key:{crm_id}", "contacts.imported", "acme", None),
        (f"admin-key:{admin_id}", "account.deleted", "initech", None),
    ]
    entries = {e["action"]: e for e in page["entries"]}
    # a webhook URL's query (where endpoints carry tokens) never reaches the trail or the log
    assert entries["webhook.added"]["detail"]["url"] == "http://127.0.0.1:9/hooks"
    assert "s3cret" not in json.dumps(logged.lines)
    assert entries["contacts.imported"]["detail"] == {
        "format": "csv", "created": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    made_entry = next(e for e in page["entries"]
                      if e["target"] == made["id"] and e["action"] == "key.created")
    assert made_entry["detail"] == {"scopes": sorted(PRESETS["receptionist"]), "expires_at": None}
    # a deleted account's entries are still found, by its id or its name
    status, kept = await call("GET", f"/admin/audit?account={acct['id']}")
    assert len(kept["entries"]) == 5
    assert (await call("GET", "/admin/audit?account=initech"))[1] == kept
    # each is also a JSON log line
    logging.getLogger("callbridge.audit").removeHandler(logged)
    created = [ln for ln in logged.lines if ln.get("event", ln.get("msg")) == "audit.key.created"]
    # (the admin key was made before the handler listened)
    assert [(ln["actor"], ln["target"]) for ln in created] == [
        (me, crm_id), (f"admin-key:{admin_id}", made["id"])]
    # only admin keys read it
    status, body = await call("GET", "/admin/audit", crm_key)
    assert status == 403 and body["error"] == "Admin key required"


async def test_audit_pages_filters_and_retention(service):
    call, app, env, _ = service
    trail = app[mw.ACCOUNT].audit
    acme = await app[mw.ACCOUNT].create_account("acme")
    for n in range(7):
        await trail.record("cli:test", "extension.added", acme, str(400 + n))
    old = iso(utc_now() - timedelta(days=400))
    await trail.store.add(old, acme.uuid, acme.name, "cli:test", "key.created", "old", None)
    # paged newest first, `next` continues
    status, first = await call("GET", "/admin/audit?action=extension&limit=3")
    assert [e["target"] for e in first["entries"]] == ["406", "405", "404"]
    status, second = await call("GET", first["next"])
    assert [e["target"] for e in second["entries"]] == ["403", "402", "401"]
    status, last = await call("GET", second["next"])
    assert [e["target"] for e in last["entries"]] == ["400"] and last["next"] is None
    # time bounds
    since = iso(utc_now() - timedelta(days=1))
    status, recent = await call("GET", f"/admin/audit?since={since}&account=acme")
    assert "old" not in {e["target"] for e in recent["entries"]}
    status, before = await call("GET", f"/admin/audit?until={since}")
    assert [e["target"] for e in before["entries"]] == ["old"]
    for bad in ("limit=0", "before=x", "since=yesterday", "action=DROP%20TABLE", "color=red"):
        status, body = await call("GET", f"/admin/audit?{bad}")
        assert status == 400 and body["error"] == "Invalid query parameter", (bad, body)
    # retention: a year by default
    assert await trail.prune() == 1
    status, after = await call("GET", "/admin/audit?limit=1000")
    assert "old" not in {e["target"] for e in after["entries"]}
    assert len(after["entries"]) >= 8  # the recent ones stay


@sqlite_only("builds a database at the schema before scopes with SQLite's own migrations")
async def test_keys_made_before_scopes_keep_every_account_scope(tmp_path):
    path = tmp_path / "old.db"
    before = [m for m in available_migrations() if m[0] < 15]
    migrate(path, before)
    key = "cb_0123456789ab_" + "A" * 43
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO accounts(name, region, uuid, created_at) VALUES"
                   " ('acme', 'US', 'u-1', '2025-01-01T00:00:00.000Z')")
        db.execute("INSERT INTO api_keys(id, account_id, key_hash, created_at) VALUES"
                   " ('0123456789ab', 1, ?, '2025-01-01T00:00:00.000Z')", (hash_key(key),))
    db.close()
    app = create_app(make_settings(tmp_path, database=path))  # migrates to the newest
    async with TestClient(TestServer(app)) as client:
        for method, path_, body in (("GET", "/contacts/contacts", None),
                                    ("POST", "/webhooks", {"url": "x"}),
                                    ("POST", "/dialer/call", {}),
                                    ("GET", "/call_log/records_after_timestamp", None)):
            resp = await client.request(method, path_, headers={"x-api-key": key}, json=body)
            assert resp.status not in (401, 403), (path_, await resp.text())
        resp = await client.get("/whoami", headers={"x-api-key": key})
        assert set((await resp.json())["scopes"]) == ACCOUNT_SCOPES
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT scopes FROM api_keys").fetchone()[0] is None
    db.close()
