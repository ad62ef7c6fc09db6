"""Which PBX extensions belong to which account: the rule behind "invalid extension"."""

from __future__ import annotations

import re

from callbridge.accounts.models import Account, Extension
from callbridge.accounts.service import AccountService
from callbridge.accounts.store import ExtensionDirectory, ExtensionStore
from callbridge.audit.service import SYSTEM
from callbridge.db.listener import PgListener
from callbridge.errors import Conflict, InvalidInput, NotFound
from callbridge.phone import clean

# Extensions reach the dialplan (Local/<ext>@context, PJSIP_DIAL_CONTACTS(<ext>)): digits only.
EXTENSION_RE = re.compile(r"^[0-9]{2,10}$")
_NAME_RE = re.compile(r"^[\w .'-]{1,40}$")


def _digits(number: str | None, field: str) -> str | None:
    if not number:
        return None
    try:
        digits = clean(number).lstrip("+")
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None
    # A dial string for the trunk (CB_MOBILE), not a matching key: the rule it always had
    # (a North American 11-digit number loses its leading 1), which the trunk's dialplan expects.
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return digits or None


def valid_extension(text: str) -> bool:
    return bool(EXTENSION_RE.match(text))


class ExtensionService:
    def __init__(self, store: ExtensionStore, accounts: AccountService,
                 nodes: list[str] | None = None, listener: PgListener | None = None):
        self.store = store
        self.accounts = accounts
        self.nodes = nodes  # the configured Asterisk nodes' names (None: not checked)
        # who owns an extension, answered from memory (see ExtensionDirectory): load() first
        self.directory = ExtensionDirectory(store)
        if listener is not None:  # another instance's change: heard, not polled
            self.directory.listen(listener)

    async def load(self) -> None:
        """Reads the directory; the owner lookups answer from it from now on."""
        await self.directory.refresh()

    async def add(self, account_name: str, extension: str, mobile: str | None = None,
                  name: str | None = None, did: str | None = None,
                  node: str | None = None, actor: str = SYSTEM) -> Extension:
        if not valid_extension(extension):
            raise InvalidInput("an extension is 2-10 digits", field="extension")
        mobile = _digits(mobile, "mobile")
        if mobile and len(mobile) < 3:
            raise InvalidInput("a mobile number has at least 3 digits", field="mobile")
        did = _digits(did, "did")
        if name is not None and not _NAME_RE.match(name):
            raise InvalidInput("a name is 1-40 letters, digits, spaces or . ' -", field="name")
        if node is not None and self.nodes is not None and node not in self.nodes:
            raise InvalidInput(f"no Asterisk node {node!r}; CALLBRIDGE_AMI names"
                               f" {', '.join(self.nodes)}", field="node")
        account = await self.store.add(self.accounts.validate_account_name(account_name),
                                       extension, mobile, name, did, node)
        if account is None:
            raise Conflict(f"extension {extension} already exists", error="Extension exists")
        await self.directory.refresh()
        await self.accounts.audit.record(actor, "extension.added", account, extension,
                                         mobile=bool(mobile), did=did, node=node)
        return Extension(extension, account.name, account.id, mobile, name, did, account.region,
                         node)

    async def remove(self, extension: str, actor: str = SYSTEM) -> None:
        owner = await self.store.remove(extension)
        if owner is None:
            raise NotFound(f"no extension {extension}", error="Extension not found")
        await self.directory.refresh()
        await self.accounts.audit.record(actor, "extension.removed", owner, extension)

    async def list(self, account_name: str | None = None) -> list[Extension]:
        return await self.store.list(account_name)

    def of_account(self, account: Account, extension: str) -> Extension | None:
        """The extension when it is this account's, else None (no matter whose it is)."""
        found = self.owner(extension)
        return found if found is not None and found.account_id == account.id else None

    async def of_account_now(self, account: Account, extension: str) -> Extension | None:
        """of_account, but an extension unknown here is looked for once more in the database
        (one version query, a reload when it moved): an extension the CLI added a moment ago
        is dialable at once, not after the next poll (it answered 400 for up to a second)."""
        found = self.of_account(account, extension)
        if found is None and valid_extension(extension) and await self.directory.refresh():
            found = self.of_account(account, extension)
        return found

    def of_called(self, called: str) -> Extension | None:
        """The extension an inbound call is for: the extension itself, or the one whose DID it
        is ("2125550100", "+1 212 555 0100")."""
        found = self.owner(called)
        if found is None:
            try:
                did = _digits(called, "called")
            except InvalidInput:
                return None
            found = self.directory.by_did(did) if did else None
        return found

    def owner(self, extension: str) -> Extension | None:
        return self.directory.get(extension) if valid_extension(extension) else None
