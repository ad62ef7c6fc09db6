"""What an API key may do: a small fixed set of scopes that follows the rooms, and presets for the
common clients. Routes declare the one scope they need where they are declared
(``RouteTable.route(scope=...)``); the middleware refuses a key without it (403, naming it).

Why scopes at all: a key typed into a receptionist's browser, or held by a CRM widget doing
click-to-dial from a web page, leaks more easily than a server's secret; with every power it
would export the whole contact base. Wazo's tokens carry ACLs per operation and Twilio has
restricted keys for the same reason.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    CONTACTS_READ = "contacts:read"      # look up, search, list, export, sync contacts and groups
    CONTACTS_WRITE = "contacts:write"    # create, change, delete, import contacts and groups
    CALLLOG_READ = "calllog:read"        # the call log and a call's story
    DIAL = "dial"                        # click-to-dial and its progress
    EVENTS_READ = "events:read"          # the live event stream (and its browser tickets)
    WEBHOOKS_MANAGE = "webhooks:manage"  # add, list, remove and test webhook endpoints
    ADMIN = "admin"                      # accounts, keys, extensions, the audit trail (/admin/…)


# A route any valid account key may call, whatever its scopes: what the account's extensions are
# and whether the service is up (every client needs them; neither reads or changes data).
ANY_ACCOUNT_KEY = "any"

# What an account key may be given; admin belongs to admin keys (`keys create --admin`) only.
ACCOUNT_SCOPES: frozenset[str] = frozenset(s.value for s in Scope) - {Scope.ADMIN.value}
ADMIN_SCOPES: frozenset[str] = frozenset({Scope.ADMIN.value})

PRESETS: dict[str, frozenset[str]] = {
    # the screen-pop page: who is calling, recent calls, click-to-dial, live calls
    "receptionist": frozenset({Scope.CONTACTS_READ, Scope.CALLLOG_READ, Scope.DIAL,
                               Scope.EVENTS_READ}),
    # a CRM keeping its contacts in step and hearing about calls through webhooks
    "crm-sync": frozenset({Scope.CONTACTS_READ, Scope.CONTACTS_WRITE, Scope.CALLLOG_READ,
                           Scope.WEBHOOKS_MANAGE}),
    # reports and dashboards: reads only
    "reporting": frozenset({Scope.CONTACTS_READ, Scope.CALLLOG_READ}),
    # everything an account key can do (what keys made before scopes existed keep)
    "full": ACCOUNT_SCOPES,
}


def parse_scopes(text: str | None = None, preset: str | None = None) -> frozenset[str]:
    """The scopes named by a comma-separated list and/or a preset (their union); every account
    scope when neither is given. ValueError naming what is wrong."""
    chosen: set[str] = set()
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"no preset {preset!r}; presets: {', '.join(PRESETS)}")
        chosen |= PRESETS[preset]
    for name in (text or "").split(","):
        name = name.strip()
        if not name:
            continue
        if name == Scope.ADMIN:
            raise ValueError("admin is an admin key's scope: make one with `keys create --admin`")
        if name not in ACCOUNT_SCOPES:
            raise ValueError(f"no scope {name!r}; scopes: {', '.join(sorted(ACCOUNT_SCOPES))}")
        chosen.add(name)
    if preset is None and text is None:
        return ACCOUNT_SCOPES
    if not chosen:
        raise ValueError("give at least one scope")
    return frozenset(chosen)


def stored_scopes(text: str | None) -> frozenset[str]:
    """Scopes as stored on a key row: NULL (a key made before scopes existed) is every account
    scope, so nothing breaks on upgrade; unknown names (a newer version's) grant nothing."""
    if text is None:
        return ACCOUNT_SCOPES
    return frozenset(text.split()) & ACCOUNT_SCOPES


def scopes_text(scopes: frozenset[str]) -> str:
    """How a key row stores its scopes: space-separated, sorted."""
    return " ".join(sorted(scopes))
