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
from datetime import datetime, timedelta, timezone
from typing import Any

from callbridge.accounts.models import Account, Admin, ApiKeyInfo, Grant
from callbridge.accounts.store import AccountStore
from callbridge.audit.service import SYSTEM, AuditTrail
from callbridge.errors import Conflict, InvalidInput, NotFound
from callbridge.phone import valid_region
from callbridge.scopes import ACCOUNT_SCOPES, ADMIN_SCOPES, parse_scopes, scopes_text, stored_scopes
from callbridge.timeutil import iso, utc_now, utc_now_iso

_KEY_RE = re.compile(r"^cb_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# How long a successful key check is remembered in memory. A revocation done by the CLI (another
# process) therefore takes effect within this many seconds; the saving is one DB read per request.
AUTH_CACHE_SECONDS = 5.0
_AUTH_CACHE_MAX = 10_000
# A key's last use is written at most this often (a write per request would double the cost of
# the hot lookups); `keys list` is therefore right to within a minute.
LAST_USED_EVERY = 60.0
_EXPIRY_RE = re.compile(r"^([1-9][0-9]{0,4})([hdw])$")
_EXPIRY_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
MAX_KEY_LIFE = timedelta(days=3650)


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """When a key made now with ``--expires TEXT`` expires: a span ("90d", "12h", "4w") or a
    date or time ("2027-03-31", "2027-03-31T18:00:00Z"; a date means its start, UTC)."""
    now = now or utc_now()
    text = text.strip()
    m = _EXPIRY_RE.match(text)
    if m:
        when = now + timedelta(**{_EXPIRY_UNITS[m.group(2)]: int(m.group(1))})
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"expires {text!r}: give a span (90d, 12h, 4w) or a date"
                               " (2027-03-31) or time (2027-03-31T18:00:00Z)",
                               field="expires") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    if when <= now:
        raise InvalidInput(f"expires {text!r} is not in the future", field="expires")
    if when - now > MAX_KEY_LIFE:
        raise InvalidInput("a key lives at most 10 years", field="expires")
    return when


def _epoch(stored: str | None) -> float | None:
    return datetime.fromisoformat(stored).timestamp() if stored else None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    m = _KEY_RE.match(key)
    return m.group(1) if m else None


class AccountService:
    def __init__(self, store: AccountStore, audit: AuditTrail):
        self.store = store
        self.audit = audit
        self._auth_cache: dict[str, tuple[float, str, Grant]] = {}
        self._used: dict[str, str] = {}          # key id -> last use not yet written
        self._used_noted: dict[str, float] = {}  # key id -> when its use was last queued
        # run after an account is renamed, re-regioned or deleted (the extension directory)
        self.changed: list[Callable[[], Awaitable[Any]]] = []

    async def _changed(self) -> None:
        self._auth_cache.clear()
        for hook in self.changed:
            await hook()

    async def region_of(self, account_id: int) -> str:
        return await self.store.region_of(account_id)

    async def set_region(self, name: str, region: str, actor: str = SYSTEM) -> None:
        region = self._region(region)
        account = await self.get_account(name)
        if not await self.store.set_region(name, region):
            raise NotFound(f"no account {name!r}", error="Account not found")
        await self._changed()  # cached accounts and extensions carry the old region
        await self.audit.record(actor, "account.region_set", account, region=region)

    @staticmethod
    def validate_account_name(name: str) -> str:
        if not _ACCOUNT_RE.match(name):
            raise InvalidInput(
                "account names are 1-64 letters, digits, '.', '_' or '-'", field="account"
            )
        return name

    async def create_account(self, name: str, region: str | None = None,
                             actor: str = SYSTEM) -> Account:
        region = self._region(region or self.store.db.default_region)
        account = await self.store.create_account(self.validate_account_name(name), region)
        if account is None:
            raise Conflict(f"an account named {name!r} exists", error="Account exists",
                           field="name")
        await self.audit.record(actor, "account.created", account, region=region)
        return account

    async def by_uuid(self, account_uuid: str) -> Account:
        account = await self.store.by_uuid(account_uuid)
        if account is None:
            raise NotFound(f"no account {account_uuid!r}", error="Account not found")
        return account

    async def update(self, account_uuid: str, name: str | None, region: str | None,
                     actor: str = SYSTEM) -> Account:
        """Rename and/or set the home region (re-keying its numbers) of an account."""
        account = await self.by_uuid(account_uuid)
        if name is not None and name != account.name:
            if not await self.store.rename(account.id, self.validate_account_name(name)):
                raise Conflict(f"an account named {name!r} exists", error="Account exists",
                               field="name")
            await self.audit.record(actor, "account.renamed", await self.by_uuid(account_uuid),
                                    old_name=account.name)
        if region is not None:
            await self.set_region(name or account.name, region, actor)
        await self._changed()
        return await self.by_uuid(account_uuid)

    async def delete(self, account_uuid: str, confirm: str | None,
                     actor: str = SYSTEM) -> Account:
        """Deletes an account and all it owns; `confirm` must repeat its name."""
        account = await self.by_uuid(account_uuid)
        if confirm != account.name:
            raise InvalidInput(f"deleting {account.name!r} removes its contacts, call log, keys and"
                               f" extensions: repeat its name as confirm={account.name}",
                               field="confirm", error="Confirmation required")
        await self.store.delete(account.id)
        await self._changed()
        await self.audit.record(actor, "account.deleted", account)
        return account

    async def create_admin_key(self, expires: str | None = None,
                               actor: str = SYSTEM) -> tuple[str, str]:
        """(key id, the key shown once) of a new admin key."""
        expires_at = iso(parse_expiry(expires)) if expires else None
        key_id = secrets.token_hex(6)
        key = f"cb_{key_id}_{secrets.token_urlsafe(32)}"
        await self.store.add_admin_key(key_id, hash_key(key), expires_at)
        await self.audit.record(actor, "key.created", None, key_id, admin=True,
                                expires_at=expires_at)
        return key_id, key

    @staticmethod
    def _region(region: str) -> str:
        region = region.strip().upper()
        if not valid_region(region):
            raise InvalidInput(f"{region!r} is not a region phone numbers know (ISO 3166 alpha-2,"
                               " e.g. US, DK, GB, DE)", field="region")
        return region

    @staticmethod
    def scopes_from(scope: str | None = None, preset: str | None = None) -> frozenset[str]:
        """The scopes named by --scope a,b and/or --preset NAME (every account scope when
        neither): InvalidInput naming the bad one."""
        try:
            return parse_scopes(scope, preset)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="scope") from None

    async def create_key(self, account_name: str, scopes: frozenset[str] = ACCOUNT_SCOPES,
                         expires: str | None = None, actor: str = SYSTEM,
                         create_account: bool = True) -> tuple[ApiKeyInfo, str]:
        """A new key (returned as (info, the key shown once)) with these scopes, expiring
        `expires` (parse_expiry) or never. The account is created if needed (the CLI's `keys
        create`), unless create_account is False."""
        if not scopes or not scopes <= ACCOUNT_SCOPES:
            raise InvalidInput("an account key's scopes are among "
                               + ", ".join(sorted(ACCOUNT_SCOPES)), field="scope")
        expires_at = iso(parse_expiry(expires)) if expires else None
        name = self.validate_account_name(account_name)
        if create_account:
            existed = await self.store.find_account(name) is not None
            account = await self.store.get_or_create_account(name)
            if not existed:
                await self.audit.record(actor, "account.created", account, region=account.region)
        else:
            account = await self.get_account(name)
        key_id = secrets.token_hex(6)
        key = f"cb_{key_id}_{secrets.token_urlsafe(32)}"
        # every account scope is stored as NULL: such a key also gets scopes added later
        stored = None if scopes == ACCOUNT_SCOPES else scopes_text(scopes)
        created = await self.store.add_key(account, key_id, hash_key(key), stored, expires_at)
        await self.audit.record(actor, "key.created", account, key_id,
                                scopes=sorted(scopes), expires_at=expires_at)
        return ApiKeyInfo(key_id, account.name, created, None, scopes, expires_at), key

    async def list_keys(self, account_name: str | None = None) -> list[ApiKeyInfo]:
        await self.flush_used()  # what this process saw is in the answer
        return [ApiKeyInfo(r[0], r[1], r[2], r[3],
                           ADMIN_SCOPES if r[1] == "(admin)" else stored_scopes(r[4]), r[5], r[6])
                for r in await self.store.list_keys(account_name)]

    async def key_info(self, account: Account, key_id: str) -> ApiKeyInfo:
        """One of the account's keys (NotFound for another account's)."""
        for key in await self.store_keys(account.name):
            if key.id == key_id:
                return key
        raise NotFound(f"no key {key_id!r} in this account", error="Key not found")

    async def store_keys(self, account_name: str) -> list[ApiKeyInfo]:
        """list_keys without writing the queued last uses first (a read only)."""
        return [ApiKeyInfo(r[0], r[1], r[2], r[3], stored_scopes(r[4]), r[5], r[6])
                for r in await self.store.list_keys(account_name)]

    async def revoke_key(self, key_id: str, actor: str = SYSTEM) -> None:
        if not await self.store.revoke_key(key_id):
            raise NotFound(f"no active key with id {key_id!r}", error="Key not found")
        self._auth_cache.clear()
        await self.audit.record(actor, "key.revoked", await self.store.key_owner(key_id), key_id)

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
        """Whether an account key is still valid (not revoked or expired, its account not
        deleted): long streams opened with it ask this from time to time."""
        found = await self.store.key_for_auth(key_id)
        if found is None:
            return False
        expires = _epoch(found[3])
        return expires is None or time.time() < expires

    async def authenticate(self, key: str) -> Grant | None:
        """What the key grants (its account or Admin, scopes, expiry), or None when the key is
        unknown, malformed or revoked. An expired key's grant is returned (Grant.expired): the
        caller refuses it, saying so."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        presented = hash_key(key)
        now = time.monotonic()
        cached = self._auth_cache.get(key_id)
        if cached is not None and cached[0] > now:
            if not hmac.compare_digest(cached[1], presented):
                return None
            self._note_use(key_id, now)
            return cached[2]
        found = await self._grant(key_id)
        if found is None:
            self._auth_cache.pop(key_id, None)
            return None
        stored, grant = found
        if not hmac.compare_digest(stored, presented):
            return None
        if len(self._auth_cache) >= _AUTH_CACHE_MAX:
            self._auth_cache.clear()
        self._auth_cache[key_id] = (now + AUTH_CACHE_SECONDS, stored, grant)
        self._note_use(key_id, now)
        return grant

    async def _grant(self, key_id: str) -> tuple[str, Grant] | None:
        """(stored hash, grant) of an unrevoked account or admin key."""
        found = await self.store.key_for_auth(key_id)
        if found is not None:
            stored, account, scopes, expires_at = found
            return stored, Grant(account, key_id, stored_scopes(scopes), _epoch(expires_at))
        admin = await self.store.admin_key_for_auth(key_id)
        if admin is None:
            return None
        return admin[0], Grant(Admin(key_id), key_id, ADMIN_SCOPES, _epoch(admin[1]))

    def _note_use(self, key_id: str, now: float) -> None:
        """Queues the key's last use for flush_used, at most once per LAST_USED_EVERY."""
        if now - self._used_noted.get(key_id, -LAST_USED_EVERY) >= LAST_USED_EVERY:
            if len(self._used_noted) >= _AUTH_CACHE_MAX:
                self._used_noted.clear()
            self._used_noted[key_id] = now
            self._used[key_id] = utc_now_iso()

    async def flush_used(self) -> None:
        """Writes the queued last uses (the app calls this every few seconds and at shutdown)."""
        used, self._used = self._used, {}
        try:
            await self.store.note_used(used)
        except BaseException:
            for key_id, at in used.items():  # tried again next time
                self._used.setdefault(key_id, at)
            raise

    async def note_expired(self) -> int:
        """Puts keys that expired since the last look into the audit trail; how many."""
        claimed = await self.store.claim_expired(utc_now_iso())
        for key_id, account in claimed:
            await self.audit.record(SYSTEM, "key.expired", account, key_id)
        if claimed:
            self._auth_cache.clear()
        return len(claimed)
