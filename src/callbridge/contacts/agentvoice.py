"""The AgentVoice Contacts API (base path /api) over the same contacts store.

Only shapes live here: AgentVoice's fields are mapped onto ContactService's one write path
(validation, transactions, versions, tombstones) and its answers back. The mapping, documented in
docs/contacts.md: first_name/last_name = firstname/lastname, company = organization, email =
email, phone = the mobile (or else the first other number) shown in E.164, crm_id/crm_source
their own fields, id = the uuid, user_id = the id of the API key that created the contact,
organization_id = the account's UUID (`callbridge accounts`), which x-organization-id must name.
Errors are {"error": "..."} as the document shows.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from aiohttp import web
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from callbridge.accounts.http import account_of
from callbridge.accounts.models import Account
from callbridge.contacts.models import Email, Identifier, ListQuery, Phone, Text
from callbridge.contacts.routes import SERVICE
from callbridge.contacts.service import primary_number
from callbridge.errors import DomainError, InvalidInput
from callbridge.scopes import Scope
from callbridge.web.middleware import REQUEST_KEY_ID
from callbridge.web.routing import RouteTable, json_array, json_ok, parse_body, parse_model, stream_json

UNAUTHORIZED = "Invalid API key or organization ID"
BAD_WEBHOOK = "Invalid payload: source, data, and data.crm_id are required"
routes = RouteTable("agentvoice", unauthorized={"error": UNAUTHORIZED})


class AgentVoiceError(DomainError):
    """Any error of these routes, in the document's shape: {"error": text}."""

    def __init__(self, status: int, text: str):
        super().__init__(text, error=text)
        self.status = status

    def body(self) -> dict:
        return {"error": self.error}


# ---- shapes ------------------------------------------------------------------------------------

class AgentVoiceContact(BaseModel):
    id: str
    user_id: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None = Field(description="E.164 when the number is one, else its digits")
    company: str | None
    created_at: str
    updated_at: str
    last_task_run: None = None
    total_tasks_run: int = 0
    organization_id: str
    crm_id: str | None
    crm_source: str | None


class WebhookContact(BaseModel):
    """The contact inside a webhook answer: the document shows no task fields there."""

    id: str
    user_id: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    company: str | None
    created_at: str
    updated_at: str
    organization_id: str
    crm_id: str | None
    crm_source: str | None


_COLUMNS = {"first_name": "firstname", "last_name": "lastname", "email": "email",
            "phone": "mobile_phone", "company": "organization", "crm_id": "crm_id",
            "crm_source": "crm_source"}


class AgentVoiceWrite(BaseModel):
    """POST and PATCH bodies (PATCH changes only the fields sent). Fields a GET answer carries
    that can't be written (id, timestamps, …) are accepted and ignored, so an answer can be
    sent back; anything else unknown is a 400."""

    model_config = ConfigDict(extra="forbid", strict=True)

    first_name: Text | None = None
    last_name: Text | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: Text | None = None
    crm_id: Identifier | None = None
    crm_source: Identifier | None = None
    id: Any = Field(None, description="read-only; ignored")
    user_id: Any = Field(None, description="read-only; ignored")
    organization_id: Any = Field(None, description="read-only; ignored")
    created_at: Any = Field(None, description="read-only; ignored")
    updated_at: Any = Field(None, description="read-only; ignored")
    last_task_run: Any = Field(None, description="read-only; ignored")
    total_tasks_run: Any = Field(None, description="read-only; ignored")

    def values(self, only_set: bool) -> dict[str, Any]:
        names = self.model_fields_set if only_set else _COLUMNS.keys()
        if self.crm_id is not None and self.crm_source is None:
            raise AgentVoiceError(400, "crm_source is required when crm_id is provided")
        return {_COLUMNS[n]: getattr(self, n) for n in names if n in _COLUMNS}


class WebhookData(BaseModel):
    """data of a CRM delivery: the field-name variants CRMs use; other fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    crm_id: Annotated[str, Field(min_length=1, max_length=255)]
    first_name: Text | None = Field(None, validation_alias=AliasChoices("first_name", "firstName", "name"))
    last_name: Text | None = Field(None, validation_alias=AliasChoices("last_name", "lastName"))
    email: Email | None = Field(None, validation_alias=AliasChoices("email", "emailAddress"))
    phone: Phone | None = Field(None, validation_alias=AliasChoices("phone", "phoneNumber"))
    company: Text | None = Field(None, validation_alias=AliasChoices("company", "companyName",
                                                                 "organization"))

    @field_validator("crm_id", "phone", mode="before")
    @classmethod
    def _number_as_text(cls, v):
        """CRMs send ids and phone numbers as JSON numbers as often as strings."""
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class WebhookDelivery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    source: Annotated[str, Field(min_length=1, max_length=255)]
    data: WebhookData


class WebhookResult(BaseModel):
    message: str
    contact: WebhookContact


class Deleted(BaseModel):
    message: str = "Contact deleted successfully"


class CrmLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    crm_id: Annotated[str, Field(min_length=1, max_length=255)]
    crm_source: Annotated[str, Field(min_length=1, max_length=255)]


def contact(row: dict, account: Account, model=AgentVoiceContact):
    phone = primary_number(row, account.region)
    return model(id=row["uuid"], user_id=row["created_by"], first_name=row["firstname"],
                 last_name=row["lastname"], email=row["email"], phone=phone,
                 company=row["organization"], created_at=row["created_at"],
                 updated_at=row["updated_at"], organization_id=account.uuid,
                 crm_id=row["crm_id"], crm_source=row["crm_source"])


# ---- routes ------------------------------------------------------------------------------------

def _agentvoice(handler):
    """x-organization-id must name the key's account (401 otherwise); errors in the document's
    shape."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        account = account_of(request)
        if request.headers.get("x-organization-id", "").strip().lower() != account.uuid:
            raise AgentVoiceError(401, UNAUTHORIZED)
        try:
            return await handler(request, account)
        except AgentVoiceError:
            raise
        except DomainError as exc:
            # 404/409: the document's own texts ("Contact not found", "A contact with this CRM
            # ID already exists"); a 400 says what was wrong with which field.
            text = exc.error if exc.status in (404, 409) else (exc.message or exc.error)
            field = exc.extra.get("field") if isinstance(exc, InvalidInput) else None
            if field not in (None, "body") and field not in text:
                text = f"{field}: {text}"
            raise AgentVoiceError(exc.status, text) from None

    return checked


def _svc(request: web.Request):
    return request.app[SERVICE]


@routes.route("GET", "/api/contacts", scope=Scope.CONTACTS_READ,
              summary="AgentVoice: list all contacts (streamed)",
              response=list[AgentVoiceContact], errors=(401,))
@_agentvoice
async def av_list(request, account):
    """AgentVoice dialect: the organization's contacts (x-organization-id must be the account's
    UUID), same store as the WebFones API.
    """
    async def shaped(batches):
        async for rows in batches:
            yield [contact(r, account) for r in rows]

    async with _svc(request).list_pages(account, ListQuery(), stored=True) as page:
        return await stream_json(request, json_array(shaped(page.contacts),
                                                     list[AgentVoiceContact]))


@routes.route("GET", "/api/contacts/crm/lookup", scope=Scope.CONTACTS_READ,
              summary="AgentVoice: a contact by CRM ID",
              response=AgentVoiceContact, query=CrmLookup, errors=(401, 404))
@_agentvoice
async def av_crm_lookup(request, account):
    """AgentVoice dialect: the contact with this CRM identity, or holding this phone number."""
    q = parse_model(CrmLookup, dict(request.query))
    return json_ok(contact(await _svc(request).row_by_crm(account, q.crm_source, q.crm_id), account))


@routes.route("GET", "/api/contacts/{id}", scope=Scope.CONTACTS_READ,
              summary="AgentVoice: a contact",
              response=AgentVoiceContact, errors=(401, 404))
@_agentvoice
async def av_get(request, account):
    """AgentVoice dialect: one contact by id."""
    return json_ok(contact(await _svc(request).row(account, request.match_info["id"]), account))


@routes.route("POST", "/api/contacts", scope=Scope.CONTACTS_WRITE,
              summary="AgentVoice: create a contact",
              body=AgentVoiceWrite, response=AgentVoiceContact, errors=(401, 409))
@_agentvoice
async def av_create(request, account):
    """AgentVoice dialect: creates a contact; a CRM id is unique per CRM source."""
    body = await parse_body(request, AgentVoiceWrite)
    values = body.values(only_set=False)
    if not values["firstname"] and not (values["crm_id"] and values["crm_source"]):
        raise AgentVoiceError(400, "first_name is required unless crm_id and crm_source are provided")
    svc = _svc(request)
    uuid = await svc.create_values(account, values, created_by=request.get(REQUEST_KEY_ID))
    return json_ok(contact(await svc.row(account, uuid), account))


@routes.route("PATCH", "/api/contacts/{id}", scope=Scope.CONTACTS_WRITE,
              summary="AgentVoice: update the fields sent",
              body=AgentVoiceWrite, response=AgentVoiceContact, errors=(401, 404, 409))
@_agentvoice
async def av_patch(request, account):
    """AgentVoice dialect: changes the fields given."""
    body = await parse_body(request, AgentVoiceWrite)
    svc = _svc(request)
    uuid = await svc.update_values(account, "uuid", request.match_info["id"].strip().lower(),
                                   body.values(only_set=True))
    return json_ok(contact(await svc.row(account, uuid), account))


@routes.route("DELETE", "/api/contacts/{id}", scope=Scope.CONTACTS_WRITE,
              summary="AgentVoice: delete a contact",
              response=Deleted, errors=(401, 404))
@_agentvoice
async def av_delete(request, account):
    """AgentVoice dialect: deletes a contact."""
    await _svc(request).delete(account, request.match_info["id"])
    return json_ok(Deleted())


@routes.route("POST", "/api/webhook/crm", scope=Scope.CONTACTS_WRITE,
              summary="AgentVoice: a CRM's contact, created or updated",
              body=WebhookDelivery, response=WebhookResult, errors=(401,))
@_agentvoice
async def av_webhook(request, account):
    """AgentVoice dialect: a CRM pushes a contact; created or updated by its CRM identity in
    one transaction.
    """
    try:
        delivery = WebhookDelivery.model_validate_json(await request.read() or b"null")
    except ValidationError as exc:
        missing = {e["loc"][:2] for e in exc.errors() if e["type"] in ("missing", "model_type",
                                                                      "json_invalid",
                                                                      "string_too_short")}
        if missing & {(), ("source",), ("data",), ("data", "crm_id")}:
            raise AgentVoiceError(400, BAD_WEBHOOK) from None
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AgentVoiceError(400, f"{where}: {first['msg']}") from None
    data = delivery.data
    values = {_COLUMNS[n]: getattr(data, n) for n in data.model_fields_set
              if n in _COLUMNS and n != "crm_id"}
    svc = _svc(request)
    created, uuid = await svc.upsert_by_crm(
        account, delivery.source, data.crm_id, values, created_by=request.get(REQUEST_KEY_ID),
        on_create={"firstname": "Unknown", **{k: v for k, v in values.items() if v is not None}})
    row = await svc.row(account, uuid)
    result = WebhookResult(message="Contact created successfully" if created
                           else "Contact updated successfully",
                           contact=contact(row, account, WebhookContact))
    return json_ok(result, status=201 if created else 200)
