"""Which name the ringing phones show for an inbound caller.

The account is the one owning the called extension (or the extension whose DID was called); the
name is that account's contact holding the caller's number in any written form (the one number
matcher; several contacts: the oldest), filtered to what the dialplan may carry. The contact's
name wins over the one the trunk supplies (carriers send "WIRELESS CALLER" or a city); with no
contact the trunk's stays. callerid_keep_trunk_names keeps any real name the trunk supplies.
"""

from __future__ import annotations

from callbridge.accounts.extensions import ExtensionService
from callbridge.contacts.lookup import ContactLookup
from callbridge.dialer.numbers import display_name


def _is_a_name(name: str, number: str) -> bool:
    """True for a real caller name: not empty, not the number again, not digits and formatting."""
    text = name.strip().strip('"')
    return bool(text) and text != number and not all(c in "0123456789 +-().#*" for c in text)


class CallerIdService:
    def __init__(self, contacts: ContactLookup, extensions: ExtensionService,
                 keep_trunk_names: bool = False):
        self.contacts = contacts
        self.extensions = extensions
        self.keep_trunk_names = keep_trunk_names

    async def name_for(self, called: str, number: str, trunk_name: str = "") -> str:
        """The name to set, or '' to leave Asterisk's caller ID as it is: the extension from
        memory and one index point lookup, so the answer is far inside the dialplan's 0.8 s."""
        if not number or (self.keep_trunk_names and _is_a_name(trunk_name, number)):
            return ""
        extension = self.extensions.of_called(called)
        if extension is None:
            return ""
        found = await self.contacts.name_for(extension.account_id, extension.region, number)
        return display_name(found[0]) if found else ""
