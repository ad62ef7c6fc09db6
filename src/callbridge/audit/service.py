"""The audit trail: each change to who may do what (keys, accounts, extensions, webhook
endpoints) and each bulk change to contacts, with who made it and when. Kept in a table served
by GET /admin/audit for `audit_retention_days`, and said as a JSON log line (`audit.<action>`)
for whoever ships logs elsewhere.

Actors are strings: ``key:<id>`` (an account key), ``admin-key:<id>``, ``cli:<user>`` (the
operator's shell), ``system`` (callbridge itself: a key found expired)."""

from __future__ import annotations

import getpass
import json
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from callbridge.audit.store import AuditStore
from callbridge.logs import event
from callbridge.timeutil import iso, utc_now, utc_now_iso

log = logging.getLogger("callbridge.audit")
SYSTEM = "system"


class Owner(Protocol):
    """The account an entry is about (accounts.models.Account)."""

    @property
    def uuid(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    account: str | None  # public id
    account_name: str | None
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] | None


def cli_actor() -> str:
    """The operator's shell: who ran the command (the login name, else the uid)."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a container's): the uid then
        return f"cli:uid{os.getuid()}"


class AuditTrail:
    def __init__(self, store: AuditStore, retention_days: int = 365):
        self.store = store
        self.retention_days = retention_days

    async def record(self, actor: str, action: str, account: Owner | None = None,
                     target: str | None = None, **detail: Any) -> None:
        """Records one change (after it is made) and logs it."""
        uuid = account.uuid if account is not None else None
        name = account.name if account is not None else None
        await self.store.add(utc_now_iso(), uuid, name, actor, action, target,
                             json.dumps(detail, separators=(",", ":"), sort_keys=True)
                             if detail else None)
        event(log, "audit." + action, actor=actor, account=name, target=target, **detail)

    async def page(self, *, account: str | None = None, action: str | None = None,
                   since: str | None = None, until: str | None = None,
                   before: int | None = None, limit: int = 100) -> list[AuditEntry]:
        rows = await self.store.page(account=account, action=action, since=since, until=until,
                                     before=before, limit=limit)
        return [AuditEntry(r["id"], r["at"], r["account_uuid"], r["account_name"], r["actor"],
                           r["action"], r["target"],
                           json.loads(r["detail"]) if r["detail"] else None) for r in rows]

    async def prune(self) -> int:
        """Drops entries older than the retention; how many."""
        cutoff = iso(utc_now() - timedelta(days=self.retention_days))
        removed = await self.store.prune(cutoff)
        if removed:
            event(log, "audit.pruned", removed=removed, before=cutoff)
        return removed
