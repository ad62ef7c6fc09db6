"""HTTP for the Contacts API 3.0: parse, call ContactService, serialize. Nothing else."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.http import account_of
from callbridge.contacts import models as m
from callbridge.contacts.service import ContactService
from callbridge.scopes import Scope
from callbridge.web.routing import (
    RouteTable,
    json_array,
    json_arrays,
    json_ok,
    parse_body,
    parse_model,
    stream_json,
)

SERVICE = web.AppKey("contact_service", ContactService)
routes = RouteTable("contacts")
NF = (404,)


def _svc(request: web.Request) -> ContactService:
    return request.app[SERVICE]


@routes.route("GET", "/contacts/contacts", scope=Scope.CONTACTS_READ,
              summary="List all contacts (streamed; paged with limit)",
              response=list[m.Contact], query=m.ListQuery)
async def list_contacts(request):
    """All contacts in id order, streamed from one snapshot. With limit, one page; the `Link:
    <…>; rel="next"` header continues it.
    """
    q = parse_model(m.ListQuery, dict(request.query))
    async with _svc(request).list_pages(account_of(request), q) as page:
        return await stream_json(request, json_arrays(page.contacts), page.next)


@routes.route("POST", "/contacts/contacts", scope=Scope.CONTACTS_WRITE,
              summary="Create a contact", body=m.ContactWrite,
              response=m.Created, errors=(409,))
async def create_contact(request):
    """Creates a contact. A name, organization or number is required; numbers are matched in
    any written form for the account's region; external_id is unique per account (409).
    """
    body = await parse_body(request, m.ContactWrite)
    return json_ok(await _svc(request).create(account_of(request), body))


@routes.route("GET", "/contacts/contacts/{contactId}", scope=Scope.CONTACTS_READ,
              summary="Get a contact",
              response=m.ContactDetail, errors=NF)
async def get_contact(request):
    """One contact by UUID, groups expanded to {uuid, name}. Another account's contact is a
    404.
    """
    return json_ok(await _svc(request).get(account_of(request), request.match_info["contactId"]))


@routes.route("PUT", "/contacts/contacts/{contactId}", scope=Scope.CONTACTS_WRITE,
              summary="Update a contact (fields given)",
              body=m.ContactWrite, response=m.Updated, errors=(404, 409))
async def update_contact(request):
    """Changes only the fields in the body (null clears one); `groups` replaces the
    memberships. The contact gets a new version.
    """
    body = await parse_body(request, m.ContactWrite)
    result = await _svc(request).update(account_of(request), request.match_info["contactId"], body)
    return json_ok(result)


@routes.route("DELETE", "/contacts/contacts/{contactId}", scope=Scope.CONTACTS_WRITE,
              summary="Delete a contact",
              response=m.Deleted, errors=NF)
async def delete_contact(request):
    """Deletes the contact and leaves a tombstone for contactsAfterVersion."""
    return json_ok(await _svc(request).delete(account_of(request), request.match_info["contactId"]))


@routes.route("POST", "/contacts/contacts/search/mobile", scope=Scope.CONTACTS_READ,
              summary="Find a contact by mobile",
              body=m.MobileQuery, response=m.Contact, errors=NF)
async def search_mobile(request):
    """The contact whose mobile number is this number, in any written form (404 when none)."""
    q = await parse_body(request, m.MobileQuery)
    return json_ok(await _svc(request).find_by_mobile(account_of(request), q.mobile_phone))


@routes.route("POST", "/contacts/contacts/search/mobile/like", scope=Scope.CONTACTS_READ,
              summary="Mobile contains digits",
              body=m.MobileLikeQuery, response=list[m.Contact])
async def search_mobile_like(request):
    """Contacts whose mobile number contains these digits."""
    q = await parse_body(request, m.MobileLikeQuery)
    return json_ok(await _svc(request).search_mobile_like(account_of(request), q),
                   as_type=list[m.Contact])


@routes.route("POST", "/contacts/contacts/search/name", scope=Scope.CONTACTS_READ,
              summary="Search by first/last name",
              body=m.NameQuery, response=list[m.ContactHit])
async def search_name(request):
    """Contacts whose first name, last name or "first last" starts with the text (case-, width-
    and script-insensitive; accents count). hint_data names the field that matched.
    """
    q = await parse_body(request, m.NameQuery)
    return json_ok(await _svc(request).search_name(account_of(request), q),
                   as_type=list[m.ContactHit])


@routes.route("POST", "/contacts/contacts/search/email", scope=Scope.CONTACTS_READ,
              summary="Find a contact by email",
              body=m.EmailQuery, response=m.Contact, errors=NF)
async def search_email(request):
    """The contact with this email address (case-insensitive)."""
    q = await parse_body(request, m.EmailQuery)
    return json_ok(await _svc(request).find_by_email(account_of(request), q.email_address))


@routes.route("POST", "/contacts/contacts/search/mobile/batch", scope=Scope.CONTACTS_READ,
              summary="Find by many mobiles",
              body=m.MobileBatchQuery, response=list[m.Contact])
async def search_mobile_batch(request):
    """Several mobile numbers at once: each number with the contacts holding it."""
    q = await parse_body(request, m.MobileBatchQuery)
    return json_ok(await _svc(request).find_by_mobiles(account_of(request), q.mobile_phones),
                   as_type=list[m.Contact])


@routes.route("POST", "/contacts/contacts/search/phones", scope=Scope.CONTACTS_READ,
              summary="Contacts per phone number",
              body=m.PhonesQuery, response=dict[str, list[m.Contact]])
async def search_phones(request):
    """Several numbers at once, matched against mobile and other phone numbers."""
    q = await parse_body(request, m.PhonesQuery)
    return json_ok(await _svc(request).find_by_numbers(account_of(request), q.phone_numbers),
                   as_type=dict[str, list[m.Contact]])


@routes.route("POST", "/contacts/contacts/search/phone/exact", scope=Scope.CONTACTS_READ,
              summary="Exact phone_numbers match",
              body=m.PhoneExactQuery, response=list[m.Contact])
async def search_phone_exact(request):
    """Contacts holding this number as mobile or any other phone number."""
    q = await parse_body(request, m.PhoneExactQuery)
    return json_ok(await _svc(request).find_by_phone_exact(account_of(request), q.phone_number),
                   as_type=list[m.Contact])


@routes.route("POST", "/contacts/contacts/search", scope=Scope.CONTACTS_READ,
              summary="Advanced search",
              body=m.AdvancedQuery, response=list[m.ContactHit], errors=NF)
async def search_advanced(request):
    """Free-text search over names, organization, email and numbers, optionally by first letter
    of the last name or within a group.
    """
    q = await parse_body(request, m.AdvancedQuery)
    return json_ok(await _svc(request).search(account_of(request), q), as_type=list[m.ContactHit])


@routes.route("GET", "/contacts/contactsAfterVersion/{version}", scope=Scope.CONTACTS_READ,
              summary="Changes after a version (streamed; paged with limit)",
              response=m.SyncResult, path_model=m.VersionPath, query=m.SyncQuery)
async def contacts_after_version(request):
    """What changed after a version, for CRM sync: updated contacts, then tombstones of deleted
    ones, in version order, streamed. With limit, the Link header resumes after the last
    change.
    """
    v = parse_model(m.VersionPath, {"version": request.match_info["version"]}, where="path")
    q = parse_model(m.SyncQuery, dict(request.query))
    async with _svc(request).changes_after(account_of(request), v.version, q) as page:
        return await stream_json(request, _sync_body(page), page.next)


async def _sync_body(page: m.SyncPages):
    """{"updated": [...], "deleted": [...]}: the seed's shape, written as it is read."""
    yield b'{"updated":'
    async for part in json_arrays(page.updated):
        yield part
    yield b',"deleted":'
    async for part in json_array(page.deleted, list[m.Tombstone]):
        yield part
    yield b"}"


@routes.route("GET", "/contacts/groups", scope=Scope.CONTACTS_READ,
              summary="List groups", response=list[m.Group])
async def list_groups(request):
    """The account's contact groups, each with its UUID and name."""
    return json_ok(await _svc(request).groups.list(account_of(request)), as_type=list[m.Group])


@routes.route("POST", "/contacts/groups", scope=Scope.CONTACTS_WRITE,
              summary="Create a group", body=m.GroupCreate,
              response=m.Created, errors=(409,))
async def create_group(request):
    """Creates a group; names are unique per account (409)."""
    body = await parse_body(request, m.GroupCreate)
    return json_ok(await _svc(request).groups.create(account_of(request), body))


@routes.route("DELETE", "/contacts/groups/{groupUuid}", scope=Scope.CONTACTS_WRITE,
              summary="Delete a group",
              response=m.GroupDeleted, errors=NF)
async def delete_group(request):
    """Deletes a group; its former members get new versions so sync clients see the change."""
    return json_ok(await _svc(request).groups.delete(account_of(request),
                                                    request.match_info["groupUuid"]))


@routes.route("GET", "/contacts/groups/{groupUuid}/contacts", scope=Scope.CONTACTS_READ,
              summary="Contacts in a group",
              response=list[m.Contact], errors=NF)
async def group_contacts(request):
    """The contacts in a group (another account's group is a 404)."""
    result = await _svc(request).groups.members(account_of(request), request.match_info["groupUuid"])
    return json_ok(result, as_type=list[m.Contact])


@routes.route("POST", "/contacts/contact_groups", scope=Scope.CONTACTS_WRITE,
              summary="Add a contact to a group",
              body=m.Membership, response=m.MembershipAdded, errors=NF)
async def add_membership(request):
    """Puts a contact into a group; adding an existing membership returns its id."""
    body = await parse_body(request, m.Membership)
    return json_ok(await _svc(request).groups.add_member(account_of(request), body))


@routes.route("DELETE", "/contacts/contact_groups", scope=Scope.CONTACTS_WRITE,
              summary="Remove a contact from a group",
              body=m.Membership, response=m.MembershipRemoved, errors=NF)
async def remove_membership(request):
    """Takes a contact out of a group."""
    body = await parse_body(request, m.Membership)
    return json_ok(await _svc(request).groups.remove_member(account_of(request), body))


@routes.route("GET", "/contacts/contacts/external/{externalId}", scope=Scope.CONTACTS_READ,
              summary="Get by external ID",
              response=m.ContactDetail, errors=NF)
async def get_external(request):
    """One contact by the external_id a CRM gave it."""
    return json_ok(await _svc(request).get_by_external_id(account_of(request),
                                                          request.match_info["externalId"]))


@routes.route("PUT", "/contacts/contacts/external/{externalId}", scope=Scope.CONTACTS_WRITE,
              summary="Update by external ID",
              body=m.ContactWrite, response=m.Updated, errors=(404, 409))
async def update_external(request):
    """Changes the fields in the body of the contact with this external_id."""
    body = await parse_body(request, m.ContactWrite)
    return json_ok(await _svc(request).update_by_external_id(
        account_of(request), request.match_info["externalId"], body))


@routes.route("DELETE", "/contacts/contacts/external/{externalId}", scope=Scope.CONTACTS_WRITE,
              summary="Delete by external ID",
              response=m.Deleted, errors=NF)
async def delete_external(request):
    """Deletes the contact with this external_id."""
    return json_ok(await _svc(request).delete_by_external_id(account_of(request),
                                                             request.match_info["externalId"]))
