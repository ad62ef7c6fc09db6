"""HTTP for admin keys (`callbridge keys create --admin`): /admin/accounts, their keys, and
/admin/extensions. Handlers call the same AccountService and ExtensionService as the CLI."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.models import Account, Extension
from callbridge.accounts.service import AccountService
from callbridge.admin import models as m
from callbridge.errors import NotFound
from callbridge.web.middleware import actor_of
from callbridge.web.routing import RouteTable, json_ok, parse_body, parse_model

ACCOUNTS = web.AppKey("admin_accounts", AccountService)
EXTENSIONS = web.AppKey("admin_extensions", ExtensionService)
routes = RouteTable("admin", admin=True)


def _account(a: Account) -> m.AccountView:
    return m.AccountView(id=a.uuid, name=a.name, region=a.region)


@routes.route("GET", "/admin/accounts", summary="Every account", response=list[m.AccountView])
async def list_accounts(request):
    """Admin keys only: every account with its public id and home region."""
    found = await request.app[ACCOUNTS].list_accounts()
    return json_ok([_account(a) for a in found], as_type=list[m.AccountView])


@routes.route("POST", "/admin/accounts", summary="Create an account", body=m.AccountCreate,
              response=m.AccountView, errors=(409,))
async def create_account(request):
    """Admin keys only: creates an account (names are unique; region defaults to
    CALLBRIDGE_REGION).
    """
    body = await parse_body(request, m.AccountCreate)
    account = await request.app[ACCOUNTS].create_account(body.name, body.region,
                                                         actor_of(request))
    return json_ok(_account(account), status=201)


@routes.route("PATCH", "/admin/accounts/{id}", summary="Rename an account or set its home region",
              body=m.AccountUpdate, response=m.AccountView, errors=(404, 409))
async def update_account(request):
    """Admin keys only: renames an account and/or sets its home region (its stored numbers are
    re-keyed).
    """
    body = await parse_body(request, m.AccountUpdate)
    account = await request.app[ACCOUNTS].update(request.match_info["id"], body.name, body.region,
                                                 actor_of(request))
    return json_ok(_account(account))


@routes.route("DELETE", "/admin/accounts/{id}", summary="Delete an account and all its data"
              " (?confirm=<its name>)", query=m.DeleteQuery, response=m.Done, errors=(404,))
async def delete_account(request):
    """Admin keys only: deletes an account with its contacts, call log, keys, extensions,
    events and webhooks; confirm= must repeat its name.
    """
    q = parse_model(m.DeleteQuery, dict(request.query))
    account = await request.app[ACCOUNTS].delete(request.match_info["id"], q.confirm,
                                                 actor_of(request))
    return json_ok(m.Done(deleted=account.uuid))


@routes.route("GET", "/admin/accounts/{id}/keys", summary="An account's keys (ids only)",
              response=list[m.KeyView], errors=(404,))
async def list_keys(request):
    """Admin keys only: an account's API keys (ids, scopes, dates, last use; keys are stored
    hashed)."""
    service = request.app[ACCOUNTS]
    account = await service.by_uuid(request.match_info["id"])
    keys = await service.list_keys(account.name)
    return json_ok([m.KeyView(id=k.id, created_at=k.created_at, revoked_at=k.revoked_at,
                              scopes=sorted(k.scopes), expires_at=k.expires_at,
                              last_used_at=k.last_used_at)
                    for k in keys], as_type=list[m.KeyView])


@routes.route("POST", "/admin/accounts/{id}/keys", summary="A new key for the account (shown"
              " once)", body=m.KeyCreate, response=m.KeyCreated, errors=(404,))
async def create_key(request):
    """Admin keys only: a new API key for the account, shown in this answer only. The body
    (optional) limits it to scopes and/or a preset and gives it an expiry; without one the key
    may do everything an account key can, for ever.
    """
    body = (await parse_body(request, m.KeyCreate) if (await request.read()).strip()
            else m.KeyCreate())
    service = request.app[ACCOUNTS]
    account = await service.by_uuid(request.match_info["id"])
    scopes = service.scopes_from(",".join(body.scopes) if body.scopes is not None else None,
                                 body.preset)
    info, key = await service.create_key(account.name, scopes, body.expires, actor_of(request),
                                         create_account=False)
    return json_ok(m.KeyCreated(id=info.id, key=key, scopes=sorted(info.scopes),
                                expires_at=info.expires_at), status=201)


@routes.route("DELETE", "/admin/accounts/{id}/keys/{key_id}", summary="Revoke one of the"
              " account's keys", response=m.Done, errors=(404,))
async def revoke_key(request):
    """Admin keys only: revokes one of the account's keys (refused by running services within 5
    s).
    """
    service = request.app[ACCOUNTS]
    account = await service.by_uuid(request.match_info["id"])
    key_id = request.match_info["key_id"]
    if key_id not in {k.id for k in await service.list_keys(account.name) if not k.revoked_at}:
        raise NotFound(f"no active key {key_id!r} in this account", error="Key not found")
    await service.revoke_key(key_id, actor_of(request))
    return json_ok(m.Done(deleted=key_id))


async def _extension_view(request, e: Extension) -> m.ExtensionView:
    owner = await request.app[ACCOUNTS].get_account(e.account)
    return m.ExtensionView(extension=e.extension, account=owner.uuid, account_name=e.account,
                           mobile=e.mobile, name=e.name, did=e.did, node=e.node)


@routes.route("GET", "/admin/extensions", summary="Extensions and their owner accounts",
              query=m.ExtensionsQuery, response=list[m.ExtensionView], errors=(404,))
async def list_extensions(request):
    """Admin keys only: extensions with their owner accounts, optionally of one account."""
    q = parse_model(m.ExtensionsQuery, dict(request.query))
    name = (await request.app[ACCOUNTS].by_uuid(q.account)).name if q.account else None
    found = await request.app[EXTENSIONS].list(name)
    views = [await _extension_view(request, e) for e in found]
    return json_ok(views, as_type=list[m.ExtensionView])


@routes.route("POST", "/admin/extensions", summary="Give an extension to an account",
              body=m.ExtensionCreate, response=m.ExtensionView, errors=(404, 409))
async def add_extension(request):
    """Admin keys only: gives an extension (2-10 digits) to an account, with an optional mobile
    number, display name and DID.
    """
    body = await parse_body(request, m.ExtensionCreate)
    owner = await request.app[ACCOUNTS].by_uuid(body.account)
    e = await request.app[EXTENSIONS].add(owner.name, body.extension, body.mobile, body.name,
                                          body.did, body.node, actor_of(request))
    return json_ok(await _extension_view(request, e), status=201)


@routes.route("DELETE", "/admin/extensions/{extension}", summary="Take an extension away from"
              " its account", response=m.Done, errors=(404,))
async def remove_extension(request):
    """Admin keys only: takes an extension away from its account."""
    extension = request.match_info["extension"]
    await request.app[EXTENSIONS].remove(extension, actor_of(request))
    return json_ok(m.Done(deleted=extension))
