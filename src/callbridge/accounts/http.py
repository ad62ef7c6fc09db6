"""The account a request was authenticated as, for the rooms' handlers."""

from __future__ import annotations

from aiohttp import web

from callbridge.accounts.models import Account
from callbridge.web.middleware import REQUEST_ACCOUNT


def account_of(request: web.Request) -> Account:
    """The request's account (the middleware let only an account key reach an account route)."""
    account = request[REQUEST_ACCOUNT]
    assert isinstance(account, Account)  # an admin key never reaches an account route
    return account
