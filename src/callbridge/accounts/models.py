from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Account:
    admin: ClassVar[bool] = False  # what the middleware asks of whoever a key authenticates
    id: int
    name: str
    region: str = "US"  # home region: how its numbers are read (callbridge.phone)
    uuid: str = ""      # public id (AgentVoice's organization_id)


@dataclass(frozen=True, slots=True)
class Admin:
    """Who an admin key authenticates: no account, only the /admin/… routes."""
    admin: ClassVar[bool] = True
    key_id: str


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: str
    account: str
    created_at: str
    revoked_at: str | None
    scopes: frozenset[str] = frozenset()
    expires_at: str | None = None
    last_used_at: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """What a presented key grants: who (an account, or Admin), under which key id, with which
    scopes, until when (unix seconds; None: no expiry)."""
    principal: Account | Admin
    key_id: str
    scopes: frozenset[str]
    expires: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires


@dataclass(frozen=True, slots=True)
class Extension:
    extension: str
    account: str
    account_id: int
    mobile: str | None
    name: str | None
    did: str | None = None
    region: str = "US"  # the owning account's
    node: str | None = None  # the Asterisk node serving it (CALLBRIDGE_AMI); None: the first
