"""SQL for accounts and API keys."""

from __future__ import annotations

import asyncio
import builtins
import logging
import uuid as uuidlib

from callbridge.accounts.models import Account, Extension
from callbridge.aio import cancel_and_wait
from callbridge.db import Db, Tx
from callbridge.phone import phone_key
from callbridge.timeutil import utc_now_iso

log = logging.getLogger("callbridge.accounts")
_ACCOUNT = "id, name, region, uuid"


def _account(row) -> Account:
    return Account(row["id"], row["name"], row["region"], row["uuid"])


def _rekey(key: str, region: str) -> str:
    """A stored key read for another region: an E.164 key stays; digits-only keys ("71999999",
    not a possible number in the old region) are read again in the new one."""
    try:
        return phone_key(key, region)
    except ValueError:
        return key


class AccountStore:
    def __init__(self, db: Db):
        self.db = db

    async def get_or_create_account(self, name: str) -> Account:
        async with self.db.transaction() as tx:
            return await self.account_in(tx, name, self.db.default_region)

    @staticmethod
    async def account_in(tx: Tx, name: str, region: str) -> Account:
        """The account named so, created (with home region `region`) inside the caller's
        transaction if it doesn't exist."""
        row = await tx.fetchone(f"SELECT {_ACCOUNT} FROM accounts WHERE name = ?", (name,))
        if row is None:
            public = str(uuidlib.uuid4())
            new_id = await tx.insert("INSERT INTO accounts(name, region, uuid, created_at)"
                                     " VALUES (?, ?, ?, ?)", (name, region, public, utc_now_iso()))
            return Account(new_id, name, region, public)
        return _account(row)

    async def find_account(self, name: str) -> Account | None:
        row = await self.db.fetchone(f"SELECT {_ACCOUNT} FROM accounts WHERE name = ?", (name,))
        return _account(row) if row else None

    async def list_accounts(self) -> list[Account]:
        rows = await self.db.fetchall(f"SELECT {_ACCOUNT} FROM accounts ORDER BY name")
        return [_account(r) for r in rows]

    async def region_of(self, account_id: int) -> str:
        """Primary-key lookup (Database.lookup): call-log rows of accounts with no extension ask."""
        rows = await self.db.lookup("SELECT region FROM accounts WHERE id = ?", (account_id,))
        return rows[0][0] if rows else self.db.default_region

    async def set_region(self, name: str, region: str) -> bool:
        """Sets the home region and re-keys the account's stored numbers for it (contacts and
        the call log), in one transaction (a number's key depends on the region it is read in)."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone("SELECT id FROM accounts WHERE name = ?", (name,))
            if row is None:
                return False
            await tx.execute("UPDATE accounts SET region = ? WHERE id = ?", (region, row["id"]))
            # a phone row is its (contact, number, kind): two equal ones re-key equally
            phones = await tx.fetchall("SELECT DISTINCT contact_id, number, is_mobile"
                                       " FROM contact_phones WHERE account_id = ?", (row["id"],))
            await tx.executemany(
                "UPDATE contact_phones SET number = ? WHERE contact_id = ? AND number = ?"
                " AND is_mobile = ?",
                [(new, r["contact_id"], r["number"], r["is_mobile"]) for r in phones
                 if (new := _rekey(r["number"], region)) != r["number"]])
            # The call log's outside numbers are keyed the same way (its `number` filter): a
            # batch at a time, by rid, so a long history never sits in memory whole.
            last = 0
            while True:
                calls = await tx.fetchall(
                    "SELECT rid, number_outside FROM call_log WHERE account_id = ? AND rid > ?"
                    " AND number_outside IS NOT NULL ORDER BY rid LIMIT 5000", (row["id"], last))
                if not calls:
                    break
                await tx.executemany("UPDATE call_log SET number_outside = ? WHERE rid = ?",
                                     [(_rekey(c["number_outside"], region), c["rid"])
                                      for c in calls])
                last = calls[-1]["rid"]
        return True

    async def create_account(self, name: str, region: str) -> Account | None:
        """None when the name is taken."""
        async with self.db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM accounts WHERE name = ?", (name,)):
                return None
            return await self.account_in(tx, name, region)

    async def by_uuid(self, uuid: str) -> Account | None:
        row = await self.db.fetchone(f"SELECT {_ACCOUNT} FROM accounts WHERE uuid = ?", (uuid,))
        return _account(row) if row else None

    async def rename(self, account_id: int, name: str) -> bool:
        """False when another account has the name."""
        async with self.db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM accounts WHERE name = ? AND id != ?",
                                 (name, account_id)):
                return False
            await tx.execute("UPDATE accounts SET name = ? WHERE id = ?", (name, account_id))
        return True

    async def delete(self, account_id: int) -> None:
        """The account and everything it owns (keys, contacts, groups, extensions, events,
        webhooks cascade). Its call-log rows go too: left ownerless they would be re-issued to
        whoever gets its extensions next."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM call_log WHERE account_id = ?", (account_id,))
            await tx.execute("DELETE FROM accounts WHERE id = ?", (account_id,))

    async def add_admin_key(self, key_id: str, key_hash: str, expires_at: str | None) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO admin_keys(id, key_hash, created_at, expires_at)"
                             " VALUES (?, ?, ?, ?)", (key_id, key_hash, utc_now_iso(), expires_at))

    async def admin_key_for_auth(self, key_id: str) -> tuple[str, str | None] | None:
        """(stored hash, expires_at) of an admin key that is not revoked, else None."""
        rows = await self.db.lookup("SELECT key_hash, expires_at FROM admin_keys WHERE id = ?"
                                    " AND revoked_at IS NULL", (key_id,))
        return (rows[0][0], rows[0][1]) if rows else None

    async def add_key(self, account: Account, key_id: str, key_hash: str, scopes: str | None,
                      expires_at: str | None) -> str:
        """Stores a new key; its created_at."""
        created = utc_now_iso()
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO api_keys(id, account_id, key_hash, created_at, scopes, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, account.id, key_hash, created, scopes, expires_at),
            )
        return created

    async def key_for_auth(self, key_id: str) -> tuple[str, Account, str | None, str | None] | None:
        """(stored hash, account, scopes, expires_at) of a key that is not revoked, else None."""
        rows = await self.db.lookup(  # primary-key lookup (Database.lookup)
            "SELECT k.key_hash, a.id, a.name, a.region, a.uuid, k.scopes, k.expires_at"
            " FROM api_keys k JOIN accounts a ON a.id = k.account_id"
            " WHERE k.id = ? AND k.revoked_at IS NULL",
            (key_id,),
        )
        row = rows[0] if rows else None
        if row is None:
            return None
        return row["key_hash"], _account(row), row["scopes"], row["expires_at"]

    async def list_keys(self, account: str | None = None) -> list[tuple]:
        """(id, account name, created, revoked, scopes, expires, last used) of each key; admin
        keys too (account "(admin)") when no account is asked for."""
        sql = ("SELECT k.id, a.name, k.created_at, k.revoked_at, k.scopes, k.expires_at,"
               " k.last_used_at FROM api_keys k JOIN accounts a ON a.id = k.account_id")
        params: tuple = ()
        if account is not None:
            sql += " WHERE a.name = ?"
            params = (account,)
        rows = [tuple(r) for r in
                await self.db.fetchall(sql + " ORDER BY a.name, k.created_at", params)]
        if account is None:
            rows += [(r[0], "(admin)", r[1], r[2], None, r[3], r[4]) for r in await self.db.fetchall(
                "SELECT id, created_at, revoked_at, expires_at, last_used_at FROM admin_keys"
                " ORDER BY created_at")]
        return rows

    async def key_owner(self, key_id: str) -> Account | None:
        """The account of an account key (revoked or not); None for an admin key or none."""
        row = await self.db.fetchone(
            f"SELECT {', '.join('a.' + c for c in _ACCOUNT.split(', '))} FROM api_keys k"
            " JOIN accounts a ON a.id = k.account_id WHERE k.id = ?", (key_id,))
        return _account(row) if row else None

    async def revoke_key(self, key_id: str) -> bool:
        async with self.db.transaction() as tx:
            changed = 0
            for table in ("api_keys", "admin_keys"):
                changed += await tx.execute(
                    f"UPDATE {table} SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                    (utc_now_iso(), key_id))
        return changed == 1

    async def note_used(self, used: dict[str, str]) -> None:
        """Writes when each key was last used ({key id: time}), in one transaction."""
        if not used:
            return
        async with self.db.transaction() as tx:
            for table in ("api_keys", "admin_keys"):
                await tx.executemany(f"UPDATE {table} SET last_used_at = ? WHERE id = ?",
                                     [(at, key_id) for key_id, at in used.items()])

    async def claim_expired(self, now: str) -> list[tuple[str, Account | None]]:
        """Keys that expired (not revoked) and are not yet noted, marked noted in the same
        transaction (with several instances, one of them notes each): (key id, its account, or
        None for an admin key)."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE api_keys SET expiry_noted = 1 WHERE expiry_noted = 0"
                " AND revoked_at IS NULL AND expires_at <= ? RETURNING id, account_id", (now,))
            admin = await tx.fetchall(
                "UPDATE admin_keys SET expiry_noted = 1 WHERE expiry_noted = 0"
                " AND revoked_at IS NULL AND expires_at <= ? RETURNING id", (now,))
            out: list[tuple[str, Account | None]] = []
            for r in rows:
                owner = await tx.fetchone(f"SELECT {_ACCOUNT} FROM accounts WHERE id = ?",
                                          (r["account_id"],))
                out.append((r["id"], _account(owner) if owner else None))
            return out + [(r["id"], None) for r in admin]


class ExtensionStore:
    def __init__(self, db: Db):
        self.db = db

    _SELECT = ("SELECT e.extension, a.name AS account, a.id AS account_id, e.mobile, e.name, e.did,"
               " a.region, e.node FROM extensions e JOIN accounts a ON a.id = e.account_id")

    async def add(self, account_name: str, extension: str, mobile: str | None, name: str | None,
                  did: str | None = None, node: str | None = None) -> Account | None:
        """Gives extension to the account (created if new), in one transaction: None, and no
        new account left behind, when the extension already exists (in any account)."""
        async with self.db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM extensions WHERE extension = ?", (extension,)):
                return None
            account = await AccountStore.account_in(tx, account_name, self.db.default_region)
            await tx.execute(
                "INSERT INTO extensions(account_id, extension, mobile, name, did, node, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (account.id, extension, mobile, name, did, node, utc_now_iso()))
        return account

    async def remove(self, extension: str) -> Account | None:
        """Takes the extension away; the account it belonged to, None when there was none."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {', '.join('a.' + c for c in _ACCOUNT.split(', '))} FROM extensions e"
                " JOIN accounts a ON a.id = e.account_id WHERE e.extension = ?", (extension,))
            if row is None:
                return None
            await tx.execute("DELETE FROM extensions WHERE extension = ?", (extension,))
            return _account(row)

    async def list(self, account: str | None = None) -> builtins.list[Extension]:
        sql, params = self._SELECT, ()  # type: tuple[str, tuple[str, ...]]
        if account is not None:
            sql, params = sql + " WHERE a.name = ?", (account,)
        rows = await self.db.fetchall(sql + " ORDER BY a.name, e.extension", params)
        return [Extension(**dict(r)) for r in rows]

    async def directory(self) -> tuple[int, builtins.list[Extension]]:
        """(directory version, every extension), read together (ExtensionDirectory)."""
        async with self.db.snapshot() as snap:
            version = await snap.value("SELECT version FROM directory_version")
            rows = await snap.fetchall(self._SELECT + " ORDER BY e.extension")
        return version, [Extension(**dict(r)) for r in rows]

    async def directory_version(self) -> int:
        return (await self.db.lookup("SELECT version FROM directory_version"))[0][0]


class ExtensionDirectory:
    """Every extension, in memory: the AMI handlers ask who owns an extension on every call event,
    synchronously (their order is the events' order), and the call log on every row. A PBX has
    hundreds or thousands of extensions, a few hundred bytes each.

    Kept current by the directory_version counter (triggers on extensions and accounts): reloaded
    right after this process changes it, and when a poll every POLL_SECONDS sees it move (the CLI
    or another instance changed it). On PostgreSQL the trigger also announces the change
    (listen()), so other instances reload at once; the poll stays as the fallback."""

    POLL_SECONDS = 1.0
    CHANNEL = "callbridge_directory"

    def __init__(self, store: ExtensionStore):
        self.store = store
        self.version = -1
        self._by_extension: dict[str, Extension] = {}
        self._by_did: dict[str, Extension] = {}
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task] = set()  # announced changes being reloaded

    def listen(self, listener) -> None:
        """Reloads when PostgreSQL announces a change (at its commit), and when the listening
        connection comes back (announcements may have gone by)."""
        listener.on(self.CHANNEL, lambda _payload: self._reload_soon())
        listener.on_reconnect(self._reload_soon)

    def _reload_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self._refresh_logged(),
                                                      name="directory-reload")
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception:  # the database briefly unreachable: the poll tries again
            log.warning("extensions.directory_refresh_failed", exc_info=True)

    def get(self, extension: str) -> Extension | None:
        return self._by_extension.get(extension)

    def by_did(self, did: str) -> Extension | None:
        """The first extension (in extension order) with this direct number."""
        return self._by_did.get(did)

    async def refresh(self) -> bool:
        """Reloads when the stored version moved; True when it did."""
        async with self._reload_lock:
            if await self.store.directory_version() == self.version:
                return False
            version, extensions = await self.store.directory()
            self._by_extension = {e.extension: e for e in extensions}
            by_did: dict[str, Extension] = {}
            for e in extensions:
                if e.did:
                    by_did.setdefault(e.did, e)
            self._by_did = by_did
            self.version = version
            return True

    async def follow(self) -> None:
        """Polls for changes made elsewhere until cancelled."""
        try:
            while True:
                await asyncio.sleep(self.POLL_SECONDS)
                await self._refresh_logged()
        finally:
            for task in list(self._reloads):
                await cancel_and_wait(task)
