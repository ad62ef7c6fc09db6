"""Request and response shapes of the Contacts API; the OpenAPI document is generated from these."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from callbridge.phone import PHONE_PATTERN, clean
from callbridge.text import check_multiline, check_text


def _email(value: str) -> str:
    """An address as the client wrote it, once email-validator (RFC 5322 syntax, IDNA) accepts
    it: not normalized, so what a CRM stored is what it reads back."""
    if not _plain_and_accepted(value):
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"not an email address: {exc}") from None
    return value


# The common address, checked without email-validator's full pass (a third of a bulk import's
# validation): a dot-atom of letters, digits and _ + - before the @ (64 at most, as
# email-validator allows), a domain of ASCII labels that email-validator accepted before (with
# any such local part: it checks the domain alone), 254 in all. Anything else takes the full
# pass; tests/contacts/test_models.py checks both agree on generated addresses.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _plain_and_accepted(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return (bool(at) and len(local) <= 64 and len(value) <= 254
            and _PLAIN_LOCAL.fullmatch(local) is not None
            and _PLAIN_DOMAIN.fullmatch(domain) is not None and _domain_accepted(domain))


@functools.lru_cache(maxsize=1024)  # a CRM's contacts share a few domains
def _domain_accepted(domain: str) -> bool:
    try:
        validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _has_digits(value: str) -> str:
    if not value:
        raise ValueError("must contain at least one digit")
    return value


Text = Annotated[str, StringConstraints(max_length=255), AfterValidator(check_text)]
LongText = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(check_multiline)]
Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(check_text),
                AfterValidator(_web_url), Field(json_schema_extra={"pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://"})]
Email = Annotated[str, StringConstraints(max_length=255), AfterValidator(check_text),
                  AfterValidator(_email), Field(json_schema_extra={"format": "email"})]
# The pattern documents what clean() accepts (digits and formatting); the validator gives the
# clearer error and also caps the digits. The account's region turns the result into a matching
# key and a shown form (ContactService), since the same digits mean different numbers per country.
_PHONE_SCHEMA = Field(json_schema_extra={"pattern": PHONE_PATTERN})
Phone = Annotated[str, StringConstraints(max_length=64), AfterValidator(clean),
                  _PHONE_SCHEMA]
# A number to search by: formatting alone ("+", "( )") would match everything.
RequiredPhone = Annotated[str, StringConstraints(min_length=1, max_length=64),
                          AfterValidator(clean), AfterValidator(_has_digits),
                          _PHONE_SCHEMA]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(check_text)]
SearchLimit = Annotated[int, Field(ge=1, le=1000)]


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or only spaces")
    return value


# Lengths count what the client sent (as the schema says); surrounding spaces are then dropped.
Trimmed = Annotated[str, StringConstraints(max_length=255), AfterValidator(check_text),
                    AfterValidator(str.strip)]
RequiredTrimmed = Annotated[str, StringConstraints(min_length=1, max_length=255),
                            AfterValidator(check_text), AfterValidator(_not_blank),
                            Field(json_schema_extra={"pattern": r"\S"})]
# SQLite stores 64-bit integers; a larger number would fail at the database as a 500, so it is a
# 400 naming the field here instead.
SQL_INT_MAX = 2**63 - 1
SqlInt = Annotated[int, Field(ge=-SQL_INT_MAX - 1, le=SQL_INT_MAX)]
Count = Annotated[int, Field(ge=0, le=SQL_INT_MAX)]


class _Strict(BaseModel):
    # Unknown fields are rejected with a 400 naming them: a typo ("mobilephone") must not be
    # silently dropped.
    model_config = ConfigDict(extra="forbid")


class _Body(_Strict):
    # JSON bodies carry real JSON types: a boolean is true/false (not "yes" or 0), a number is a
    # number (not false or "12"), as the OpenAPI schema says. Query and path models stay lax:
    # there every value arrives as a string.
    model_config = ConfigDict(extra="forbid", strict=True)


class GroupRef(BaseModel):
    uuid: str
    name: str


class ContactWrite(_Body):
    """Create body, and PUT body (PUT changes only the fields it carries)."""

    firstname: Text | None = None
    lastname: Text | None = None
    organization: Text | None = None
    organization_flag: bool | None = None
    user_id: SqlInt | None = None
    phone_numbers: Annotated[list[Phone], Field(max_length=50)] | None = None
    mobile_phone: Phone | None = None
    email: Email | None = None
    address: Text | None = None
    city: Text | None = None
    state: Text | None = None
    zip: Text | None = None
    country: Text | None = None
    note: LongText | None = None
    profile_url: Url | None = None
    external_id: Identifier | None = None
    groups: Annotated[list[Annotated[str, StringConstraints(max_length=64)] | GroupRef],
                      Field(max_length=100)] | None = None
    # Read-only fields a client may echo back from a GET: accepted and ignored.
    uuid: str | None = Field(None, description="read-only; ignored")
    version: SqlInt | None = Field(None, description="read-only; ignored")

    def column_values(self, only_set: bool) -> dict[str, Any]:
        """Column → value for the stored fields (all, or only those present in the body)."""
        names = self.model_fields_set if only_set else type(self).model_fields.keys()
        out: dict[str, Any] = {}
        for name in names:
            if name in ("groups", "uuid", "version"):
                continue
            value = getattr(self, name)
            if name == "mobile_phone":
                value = value or None
            elif name == "phone_numbers":
                value = list(dict.fromkeys(n for n in (value or []) if n))
            elif name == "organization_flag":
                value = bool(value)
            out[name] = value
        return out

    def group_uuids(self) -> list[str] | None:
        if self.groups is None:
            return None
        return list(dict.fromkeys(g.uuid if isinstance(g, GroupRef) else g for g in self.groups))


class Contact(BaseModel):
    """A contact in lists and search results: groups as UUIDs."""

    model_config = ConfigDict(extra="ignore")

    uuid: str
    firstname: str | None = None
    lastname: str | None = None
    organization: str | None = None
    organization_flag: bool = False
    user_id: int | None = None
    phone_numbers: list[str] = []
    mobile_phone: str | None = None
    email: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    note: str | None = None
    version: int
    profile_url: str | None = None
    external_id: str | None = None
    groups: list[str] = []


class ContactDetail(Contact):
    """A single contact: groups expanded to {uuid, name}."""

    groups: list[GroupRef] = []  # type: ignore[assignment]


class ContactHit(Contact):
    hint_data: str = Field(description="which field matched: firstname, lastname, fullname, "
                                       "organization, email, mobile_phone, phone_numbers or note")


class Created(BaseModel):
    uuid: str


class Updated(BaseModel):
    message: str = "Contact updated successfully."
    uuid: str


class Deleted(BaseModel):
    success: bool = True
    uuid: str


class Tombstone(BaseModel):
    uuid: str
    version: int
    deleted_at: str


class SyncResult(BaseModel):
    updated: list[Contact]
    deleted: list[Tombstone]


class MobileQuery(_Body):
    mobile_phone: RequiredPhone


class MobileLikeQuery(_Body):
    mobile_phone: RequiredPhone
    limit: SearchLimit = 100


class NameQuery(_Body):
    searchString: RequiredTrimmed
    limit: SearchLimit = 100


class EmailQuery(_Body):
    email_address: RequiredTrimmed


class MobileBatchQuery(_Body):
    mobile_phones: Annotated[list[RequiredPhone], Field(min_length=1, max_length=1000)]


class PhonesQuery(_Body):
    phone_numbers: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
                             Field(min_length=1, max_length=1000)]


class PhoneExactQuery(_Body):
    phone_number: RequiredPhone


class AdvancedQuery(_Body):
    searchString: Trimmed | None = None
    letter: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]$")] | None = None
    groupUUID: Annotated[str, StringConstraints(max_length=64)] | None = None
    limit: SearchLimit = 100


class ListQuery(_Strict):
    limit: Annotated[int, Field(ge=1, le=100_000, description=(
        "page size (default: all, streamed). With a limit, the Link header's rel=\"next\" URL"
        " continues after this page"))] | None = None
    offset: Annotated[Count, Field(description="rows to skip")] = 0
    after: Annotated[Count, Field(description="continue after this position (from the Link"
                                              " header of the previous page)")] | None = None


class VersionPath(_Strict):
    version: Annotated[Count, Field(description="changes after this version are returned")]


class SyncQuery(_Strict):
    limit: Annotated[int, Field(ge=1, le=100_000, description=(
        "at most this many changes (updated and deleted together, in version order); the Link"
        " header's rel=\"next\" URL resumes after them (default: all, streamed)"))] | None = None


@dataclass
class ContactPages:
    """A whole-account list being read: the next page's path (None: none) and the contacts."""

    next: str | None
    contacts: AsyncIterator[Any]  # JSON arrays of Contact (bytes), or a dialect's stored rows


@dataclass
class SyncPages:
    next: str | None
    updated: AsyncIterator[bytes]  # JSON arrays of Contact
    deleted: AsyncIterator[list[Tombstone]]


class Group(BaseModel):
    uuid: str
    name: str
    version: int


class GroupCreate(_Body):
    name: RequiredTrimmed


class GroupDeleted(BaseModel):
    success: bool = True
    deleted: int


class Membership(_Body):
    fk_contact_uuid: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    fk_group_uuid: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MembershipAdded(BaseModel):
    id: int


class MembershipRemoved(BaseModel):
    changes: int
