"""Least privilege: every route declares the scope a key needs, and a key without it gets 403
naming it. The matrix is generated from the mounted route table (all three contact dialects, the
call log, the dialer, events, webhooks, admin), so a route added without a scope, or enforced
wrongly, fails here."""

from __future__ import annotations

import re
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import create_app
from callbridge.scopes import ACCOUNT_SCOPES, ANY_ACCOUNT_KEY, PRESETS, Scope, parse_scopes
from callbridge.web import middleware as mw
from callbridge.web.routing import ROUTE_AUTH, RouteTable
from tests.conftest import make_settings

# A value for each path parameter: any well-formed value will do (the scope is checked first).
_PATH_VALUES = {"contactId": str(uuid.uuid4()), "groupUuid": str(uuid.uuid4()),
                "externalId": "crm-1", "version": "0", "id": "1", "number": "12125550100",
                "linked_id": "1700000000.1", "call_id": "c1", "key_id": "0123456789ab",
                "extension": "401", "name": "x.js"}
# What a refusal by scope or role says: anything else means the key got past authorization.
_REFUSALS = {"Insufficient scope", "Account key required", "Admin key required",
             "Invalid API key", "API key is required"}


def _routes(app) -> list[tuple[str, str, object]]:
    """(method, path, auth) of every mounted route that needs a key."""
    out = []
    for route, auth in app[ROUTE_AUTH].items():
        if auth.public or route.method == "HEAD":
            continue
        out.append((route.method, route.resource.canonical, auth))
    return sorted(out, key=lambda r: (r[1], r[0]))


def _filled(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: _PATH_VALUES[m.group(1)], path)


@pytest.fixture
async def keyed(tmp_path):
    """The app, and a key maker: key(scopes) -> a key of account acme with those scopes."""
    app = create_app(make_settings(tmp_path))
    async with TestClient(TestServer(app)) as client:
        accounts = app[mw.ACCOUNT]
        acme = await accounts.create_account("acme")

        async def key(scopes: frozenset[str] | None = None, admin: bool = False) -> str:
            if admin:
                return (await accounts.create_admin_key())[1]
            return (await accounts.create_key("acme", scopes or ACCOUNT_SCOPES))[1]

        async def call(method: str, path: str, key: str):
            headers = {"x-api-key": key, "x-organization-id": acme.uuid}
            body = {} if method in ("POST", "PUT", "PATCH") else None
            resp = await client.request(method, path, headers=headers, json=body)
            try:
                data = await resp.json() if "json" in resp.headers.get("Content-Type", "") \
                    else None
            except Exception:
                data = None
            resp.close()  # a stream (GET /events) is not read to its end
            return resp.status, data
        yield app, key, call


async def test_every_keyed_route_declares_a_scope(tmp_path):
    app = create_app(make_settings(tmp_path))  # not started: create_app builds the route table
    declared = {s.value for s in Scope} | {ANY_ACCOUNT_KEY}
    missing = [f"{m} {p}" for m, p, auth in _routes(app) if auth.scope not in declared]
    assert missing == [] and len(_routes(app)) > 60
    # and a route can't be declared without one
    table = RouteTable("t")
    with pytest.raises(TypeError, match="declares the scope"):
        table.route("GET", "/x", summary="x")
    with pytest.raises(TypeError, match="declares the scope"):
        table.route("GET", "/y", summary="y", public=True, scope=Scope.DIAL)


async def test_scope_matrix_every_route_with_and_without_its_scope(keyed):
    app, key, call = keyed
    routes = _routes(app)
    # a key per scope (only it), one with every scope but it, the admin key
    only = {s: await key(frozenset({s})) for s in ACCOUNT_SCOPES}
    all_but = {s: await key(ACCOUNT_SCOPES - {s}) for s in ACCOUNT_SCOPES}
    admin = await key(admin=True)
    seen_scopes = set()
    problems = []
    for method, path, auth in routes:
        target = _filled(path)
        scope = auth.scope
        seen_scopes.add(scope)
        if scope == Scope.ADMIN:
            with_key, without_key = admin, await key(ACCOUNT_SCOPES)
        elif scope == ANY_ACCOUNT_KEY:
            with_key, without_key = only[Scope.CALLLOG_READ], None
        else:
            with_key, without_key = only[scope], all_but[scope]
        status, body = await call(method, target, with_key)
        error = body.get("error") if isinstance(body, dict) else None
        if status == 401 or error in _REFUSALS:
            problems.append(f"{method} {path} with {scope}: {status} {body}")
        if without_key is not None:
            status, body = await call(method, target, without_key)
            wanted = "Insufficient scope" if scope != Scope.ADMIN else "Admin key required"
            if status != 403 or body.get("error") != wanted or (
                    scope != Scope.ADMIN and (body.get("scope") != scope
                                              or scope not in body["message"])):
                problems.append(f"{method} {path} without {scope}: {status} {body}")
    assert problems == []
    # the matrix covered every scope and the three dialects
    assert seen_scopes == {s.value for s in Scope} | {ANY_ACCOUNT_KEY}
    paths = {p for _, p, _ in routes}
    assert {"/contacts/contacts", "/api/contacts", "/api/v2/contacts"} <= paths


async def test_an_account_key_never_gets_admin_and_presets_are_what_they_say():
    with pytest.raises(ValueError, match="admin key"):
        parse_scopes("contacts:read,admin")
    with pytest.raises(ValueError, match="no scope 'contacts:delete'"):
        parse_scopes("contacts:delete")
    with pytest.raises(ValueError, match="no preset"):
        parse_scopes(None, "everything")
    with pytest.raises(ValueError, match="at least one"):
        parse_scopes(" , ")
    assert parse_scopes() == ACCOUNT_SCOPES
    assert parse_scopes("dial", "reporting") == {"dial", "contacts:read", "calllog:read"}
    assert PRESETS["receptionist"] == {"contacts:read", "calllog:read", "dial", "events:read"}
    assert all(p <= ACCOUNT_SCOPES for p in PRESETS.values())


async def test_whoami_says_what_the_key_may_do(keyed):
    app, key, call = keyed
    reception = await key(PRESETS["receptionist"])
    status, me = await call("GET", "/whoami", reception)
    assert status == 200 and me["account_name"] == "acme"
    assert me["scopes"] == sorted(PRESETS["receptionist"]) and me["expires_at"] is None
    assert reception.startswith(f"cb_{me['key_id']}_")
    # what it may not do is refused, naming the scope; what it may is answered
    status, body = await call("POST", "/contacts/contacts", reception)
    assert status == 403 and body["scope"] == "contacts:write"
    status, _ = await call("GET", "/contacts/contacts", reception)
    assert status == 200


async def test_a_ticket_opens_only_the_event_stream(keyed):
    """A browser's ticket stands for its key on GET /events only (the route that takes one),
    and only a key with events:read gets one."""
    app, key, call = keyed
    status, body = await call("POST", "/events/ticket", await key(frozenset({"dial"})))
    assert status == 403 and body["scope"] == "events:read"
    status, ticket = await call("POST", "/events/ticket", await key(frozenset({"events:read"})))
    assert status == 200
    status, body = await call("GET", f"/contacts/contacts?ticket={ticket['ticket']}", "")
    assert status == 401


async def test_contact_routes_of_all_dialects_split_reads_from_writes(tmp_path):
    """The rule behind the contacts' declarations: a GET or a search reads (contacts:read), any
    other method writes (contacts:write), in every dialect; a mistaken declaration (a delete
    needing only contacts:read) fails here, not only in review."""
    app = create_app(make_settings(tmp_path))
    wrong = []
    for method, path, auth in _routes(app):
        if not path.startswith(("/contacts/", "/api/contacts", "/api/v2/contacts",
                                "/api/webhook/crm")):
            continue
        reads = method == "GET" or "/search" in path
        wanted = Scope.CONTACTS_READ if reads else Scope.CONTACTS_WRITE
        if auth.scope != wanted:
            wrong.append(f"{method} {path}: {auth.scope}, not {wanted}")
    assert wrong == []
