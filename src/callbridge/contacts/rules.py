"""What the contacts and the groups services share: the not-found errors, how a stored UUID is
spelled, and a stored row as the API's contact."""

from __future__ import annotations

from callbridge.contacts import models as m
from callbridge.errors import NotFound

CONTACT_NOT_FOUND = "Contact not found"
GROUP_NOT_FOUND = "Group not found"


def contact_of(d: dict) -> m.Contact:
    # model_validate runs in pydantic-core (Rust): ~3x cheaper than model_construct's Python loop,
    # and it checks what the store handed back. Unknown keys (the row id) are ignored.
    return m.Contact.model_validate(d)


def not_found(what: str = CONTACT_NOT_FOUND) -> NotFound:
    return NotFound(error=what)


def stored_uuid(text: str) -> str:
    """A contact or group UUID as stored (lower case): clients may send it upper case."""
    return text.strip().lower()
