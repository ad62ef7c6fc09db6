"""Accounts and API keys: creating, listing, revoking, and authenticating a presented key.

Key format: ``cb_<id>_<secret>``. The id is public (it names the key in lists and logs); the whole
key is stored only as its SHA-256. A plain hash is enough here, unlike passwords: the secret is 256
random bits, so there is no dictionary to try, and a slow hash would cost every request.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from callbridge.accounts.models import Account, Admin, ApiKeyInfo
from callbridge.accounts.store import AccountStore
from callbridge.errors import Conflict, InvalidInput, NotFound
from callbridge.phone import valid_region

_KEY_RE = re.compile(r"^cb_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# How long a successful key check is remembered in memory. A revocation done by the CLI (another
# process) therefore takes effect within this many seconds; the saving is one DB read per request.
AUTH_CACHE_SECONDS = 5.0
_AUTH_CACHE_MAX = 10_000


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    m = _KEY_RE.match(key)
    return m.group(1) if m else None


class AccountService:
    def __init__(self, store: AccountStore):
        self.store = store
        self._auth_cache: dict[str, tuple[float, str, Account | Admin]] = {}
        # run after an account is renamed, re-regioned or deleted (the extension directory)
        self.changed: list[Callable[[], Awaitable[Any]]] = []

    async def _changed(self) -> None:
        self._auth_cache.clear()
        for hook in self.changed:
            await hook()

    async def region_of(self, account_id: int) -> str:
        return await self.store.region_of(account_id)

    async def set_region(self, name: str, region: str) -> None:
        region = self._region(region)
        if not await self.store.set_region(name, region):
            raise NotFound(f"no account {name!r}", error="Account not found")
        await self._changed()  # cached accounts and extensions carry the old region

    @staticmethod
    def validate_account_name(name: str) -> str:
        if not _ACCOUNT_RE.match(name):
            raise InvalidInput(
                "account names are 1-64 letters, digits, '.', '_' or '-'", field="account"
            )
        return name

    async def create_account(self, name: str, region: str | None = None) -> Account:
        region = self._region(region or self.store.db.default_region)
        account = await self.store.create_account(self.validate_account_name(name), region)
        if account is None:
            raise Conflict(f"an account named {name!r} exists", error="Account exists",
                           field="name")
        return account

    async def by_uuid(self, account_uuid: str) -> Account:
        account = await self.store.by_uuid(account_uuid)
        if account is None:
            raise NotFound(f"no account {account_uuid!r}", error="Account not found")
        return account

    async def update(self, account_uuid: str, name: str | None, region: str | None) -> Account:
        """Rename and/or set the home region (re-keying its numbers) of an account."""
        account = await self.by_uuid(account_uuid)
        if name is not None and name != account.name:
            if not await self.store.rename(account.id, self.validate_account_name(name)):
                raise Conflict(f"an account named {name!r} exists", error="Account exists",
                               field="name")
        if region is not None:
            await self.set_region(name or account.name, region)
        await self._changed()
        return await self.by_uuid(account_uuid)

    async def delete(self, account_uuid: str, confirm: str | None) -> Account:
        """Deletes an account and all it owns; `confirm` must repeat its name."""
        account = await self.by_uuid(account_uuid)
        if confirm != account.name:
            raise InvalidInput(f"deleting {account.name!r} removes its contacts, call log, keys and"
                               f" extensions: repeat its name as confirm={account.name}",
                               field="confirm", error="Confirmation required")
        await self.store.delete(account.id)
        await self._changed()
        return account

    async def create_admin_key(self) -> tuple[str, str]:
        """(key id, the key shown once) of a new admin key."""
        key_id = secrets.token_hex(6)
        key = f"cb_{key_id}_{secrets.token_urlsafe(32)}"
        await self.store.add_admin_key(key_id, hash_key(key))
        return key_id, key

    @staticmethod
    def _region(region: str) -> str:
        region = region.strip().upper()
        if not valid_region(region):
            raise InvalidInput(f"{region!r} is not a region phone numbers know (ISO 3166 alpha-2,"
                               " e.g. US, DK, GB, DE)", field="region")
        return region

    async def create_key(self, account_name: str) -> tuple[ApiKeyInfo, str]:
        """Creates the account if needed and a new key; returns (info, the key shown once)."""
        account = await self.store.get_or_create_account(self.validate_account_name(account_name))
        key_id = secrets.token_hex(6)
        key = f"cb_{key_id}_{secrets.token_urlsafe(32)}"
        await self.store.add_key(account, key_id, hash_key(key))
        return ApiKeyInfo(key_id, account.name, "", None), key

    async def list_keys(self, account_name: str | None = None) -> list[ApiKeyInfo]:
        return await self.store.list_keys(account_name)

    async def revoke_key(self, key_id: str) -> None:
        if not await self.store.revoke_key(key_id):
            raise NotFound(f"no active key with id {key_id!r}", error="Key not found")
        self._auth_cache.clear()

    async def get_account(self, name: str) -> Account:
        """The account named so; NotFound naming the nearest existing name (a misspelt
        --account once created a second account silently)."""
        account = await self.store.find_account(name)
        if account is None:
            names = [a.name for a in await self.store.list_accounts()]
            near = difflib.get_close_matches(name, names, n=1)
            hint = (f"; did you mean {near[0]!r}?" if near else
                    "; accounts are created by `callbridge accounts add` or `keys create`")
            raise NotFound(f"no account named {name!r}{hint}", error="Account not found")
        return account

    async def list_accounts(self) -> list[Account]:
        return await self.store.list_accounts()

    async def key_active(self, key_id: str) -> bool:
        """Whether an account key is still valid (not revoked, its account not deleted): long
        streams opened with it ask this from time to time."""
        return await self.store.key_for_auth(key_id) is not None

    async def authenticate(self, key: str) -> Account | Admin | None:
        """The key's account (or Admin for an admin key), or None when the key is unknown,
        malformed or revoked."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        presented = hash_key(key)
        now = time.monotonic()
        cached = self._auth_cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[2] if hmac.compare_digest(cached[1], presented) else None
        found: tuple[str, Account | Admin] | None = await self.store.key_for_auth(key_id)
        if found is None:
            admin_hash = await self.store.admin_key_hash(key_id)
            found = (admin_hash, Admin(key_id)) if admin_hash is not None else None
        if found is None:
            self._auth_cache.pop(key_id, None)
            return None
        stored, account = found
        if not hmac.compare_digest(stored, presented):
            return None
        if len(self._auth_cache) >= _AUTH_CACHE_MAX:
            self._auth_cache.clear()
        self._auth_cache[key_id] = (now + AUTH_CACHE_SECONDS, stored, account)
        return account
