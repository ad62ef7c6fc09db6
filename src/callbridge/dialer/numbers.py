"""What may reach the dialplan from a dial request."""

from __future__ import annotations

import re

from callbridge.errors import InvalidInput
from callbridge.phone import FORMATTING

_FORMATTING = re.compile(f"[{re.escape(FORMATTING)}]")
_DIALABLE = re.compile(r"^\+?[0-9]{3,20}$")
_SHOW = re.compile(r"[^\w .'&-]")


def dialable(raw: str) -> str:
    """'+1 (580) 867-5309' -> '+15808675309'. The documented formatting (space - . ( ) /) is
    dropped; anything else, control characters included ("555\\r\\n1234"), is a 400: what is
    left must be digits with an optional leading +."""
    number = _FORMATTING.sub("", raw)
    if not _DIALABLE.match(number):
        raise InvalidInput("phonenumber must be 3 to 20 digits, optionally with a leading +"
                           " (spaces, dashes, dots, slashes and parentheses are ignored)",
                           field="phonenumber", error="Invalid phonenumber")
    return number


def display_name(name: str) -> str:
    """A contact's name as the ringing devices may show it: letters, digits, space and . ' & -,
    at most 40 characters. Stored contact names come from API clients: never raw into AMI."""
    return " ".join(_SHOW.sub("", " ".join(name.split())).split())[:40]
