"""The Relatel Contacts API (base path /api/v2) over the same contacts store.

Only shapes live here; ContactService does the rest. The mapping, documented in docs/contacts.md:
- id: the contact's integer id, stable for its life and never reused (contact_id_counter).
- name: written whole into the first name (the last name cleared), so it reads back verbatim;
  read as "first last", or the organization when the contact has no name.
- number: the mobile, else the first other number, as E.164 digits without "+" ("4571999999");
  number_formatted: the national format of the number's own country ("71 99 99 99"). Written in
  any form; read in the account's home region.
- email: email.
by_number finds a contact by any of its numbers in any written form; several: the oldest.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callbridge.accounts.http import account_of
from callbridge.accounts.models import Account
from callbridge.contacts.models import Count, Email, Phone, Text
from callbridge.contacts.routes import SERVICE
from callbridge.contacts.service import primary_number
from callbridge.errors import InvalidInput
from callbridge.phone import national_format
from callbridge.scopes import Scope
from callbridge.web.routing import RouteTable, json_ok, parse_body, parse_model

routes = RouteTable("relatel")


class RelatelContact(BaseModel):
    id: int
    name: str
    number: str | None = Field(description="E.164 digits without + (4571999999)")
    number_formatted: str | None = Field(description="the national format of the number's country")
    email: str | None


class RelatelOne(BaseModel):
    contact: RelatelContact


class RelatelList(BaseModel):
    contacts: list[RelatelContact]


class RelatelWrite(BaseModel):
    """Fields sent are written (on PUT, only those); a GET answer sent back is accepted."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Text | None = None
    number: Phone | None = None
    email: Email | None = None
    id: Any = Field(None, description="read-only; ignored")
    number_formatted: Any = Field(None, description="read-only; ignored")

    def values(self, only_set: bool) -> dict[str, Any]:
        names = self.model_fields_set if only_set else {"name", "number", "email"}
        out: dict[str, Any] = {}
        if "name" in names:
            out["firstname"], out["lastname"] = self.name, None
        if "number" in names:
            out["mobile_phone"] = self.number
        if "email" in names:
            out["email"] = self.email
        return out


class RelatelBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    contact: RelatelWrite


class RelatelQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, Field(min_length=1, max_length=64,
                                 description="only contacts with this number, in any form")] | None = None
    limit: Annotated[int, Field(ge=1, le=100, description="default 10, at most 100")] = 10
    id_gt_or_eq: Annotated[Count, Field(description="contacts whose id is at least this")] = 0


class IdPath(BaseModel):
    id: Count


def contact(row: dict, account: Account) -> RelatelContact:
    name = " ".join(p for p in (row["firstname"], row["lastname"]) if p) or row["organization"] or ""
    key = primary_number(row, account.region)
    return RelatelContact(id=row["id"], name=name, number=key.lstrip("+") if key else None,
                          number_formatted=national_format(key) if key else None,
                          email=row["email"])


def _svc(request: web.Request):
    return request.app[SERVICE]


def _id(request: web.Request) -> int:
    return parse_model(IdPath, {"id": request.match_info["id"]}, where="path").id


@routes.route("GET", "/api/v2/contacts", scope=Scope.CONTACTS_READ,
              summary="Relatel: contacts, ascending id",
              response=RelatelList, query=RelatelQuery)
async def relatel_list(request):
    """Relatel dialect: the account's contacts with Relatel's field names."""
    q = parse_model(RelatelQuery, dict(request.query))
    account = account_of(request)
    rows = await _svc(request).rows_from(account, q.id_gt_or_eq, q.limit, q.number)
    return json_ok(RelatelList(contacts=[contact(r, account) for r in rows]))


@routes.route("POST", "/api/v2/contacts", scope=Scope.CONTACTS_WRITE,
              summary="Relatel: create a contact",
              body=RelatelBody, response=RelatelOne)
async def relatel_create(request):
    """Relatel dialect: creates a contact."""
    body = await parse_body(request, RelatelBody)
    account = account_of(request)
    values = body.contact.values(only_set=False)
    if not (values["firstname"] or values["mobile_phone"] or values["email"]):
        raise InvalidInput("a contact needs a name, a number or an email", field="contact")
    svc = _svc(request)
    uuid = await svc.create_values(account, values)
    return json_ok(RelatelOne(contact=contact(await svc.row(account, uuid), account)))


@routes.route("GET", "/api/v2/contacts/by_number/{number}", scope=Scope.CONTACTS_READ,
              summary="Relatel: the contact with a number (any form; several: the oldest)",
              response=RelatelOne, errors=(404,))
async def relatel_by_number(request):
    """Relatel dialect: the contact holding this number, in any written form."""
    account = account_of(request)
    row = await _svc(request).row_by_number(account, request.match_info["number"])
    return json_ok(RelatelOne(contact=contact(row, account)))


@routes.route("GET", "/api/v2/contacts/{id}", scope=Scope.CONTACTS_READ,
              summary="Relatel: a contact by id",
              response=RelatelOne, path_model=IdPath, errors=(404,))
async def relatel_get(request):
    """Relatel dialect: one contact by its integer id (never reused)."""
    account = account_of(request)
    row = await _svc(request).row_by_id(account, _id(request))
    return json_ok(RelatelOne(contact=contact(row, account)))


@routes.route("PUT", "/api/v2/contacts/{id}", scope=Scope.CONTACTS_WRITE,
              summary="Relatel: update the fields sent",
              body=RelatelBody, response=RelatelOne, path_model=IdPath, errors=(404,))
async def relatel_update(request):
    """Relatel dialect: changes the fields given."""
    contact_id = _id(request)
    body = await parse_body(request, RelatelBody)
    account = account_of(request)
    svc = _svc(request)
    uuid = await svc.update_values(account, "id", contact_id, body.contact.values(only_set=True))
    return json_ok(RelatelOne(contact=contact(await svc.row(account, uuid), account)))


@routes.route("DELETE", "/api/v2/contacts/{id}", scope=Scope.CONTACTS_WRITE,
              summary="Relatel: delete a contact",
              path_model=IdPath, errors=(404,))
async def relatel_delete(request):
    """Relatel dialect: deletes a contact."""
    account = account_of(request)
    svc = _svc(request)
    row = await svc.row_by_id(account, _id(request))
    await svc.delete(account, row["uuid"])
    return json_ok({})
