"""What every route shares: error → JSON mapping, authentication, rate limiting, access log."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Protocol

from aiohttp import web

from callbridge.errors import DomainError
from callbridge.logs import event
from callbridge.scopes import ANY_ACCOUNT_KEY
from callbridge.timeutil import utc_now_iso
from callbridge.web.metrics import HttpMetrics
from callbridge.web.ratelimit import Verdict
from callbridge.web.routing import PRE_HEADERS, ROUTE_AUTH, Auth

log = logging.getLogger("callbridge.http")

# What the middleware needs of the rooms, as small interfaces: the web layer imports no room
# (the app factory hands it the accounts service, the limiter and the event tickets).


class Principal(Protocol):
    """Whoever a key authenticates: an account, or an admin (who manages accounts only)."""

    @property
    def admin(self) -> bool: ...


class Credential(Protocol):
    """What a presented key grants (accounts.models.Grant)."""

    @property
    def principal(self) -> Principal: ...

    @property
    def key_id(self) -> str: ...

    @property
    def scopes(self) -> frozenset[str]: ...

    @property
    def expires(self) -> float | None: ...

    def expired(self, now: float) -> bool: ...


class Authenticator(Protocol):
    async def authenticate(self, key: str) -> Credential | None: ...


class Limiter(Protocol):
    rejected: int

    async def admit(self, client: str) -> Verdict: ...

    async def close(self) -> None: ...


class TicketRedeemer(Protocol):
    """GET /events?ticket= (browsers): a one-time ticket stands for the key that asked for it."""

    async def redeem(self, ticket: str) -> tuple[Principal, str] | None: ...


ACCOUNT: web.AppKey[Authenticator] = web.AppKey("account_service")  # the accounts service
LIMITER: web.AppKey[Limiter] = web.AppKey("rate_limiter")
TICKETS: web.AppKey[TicketRedeemer] = web.AppKey("event_tickets")
HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)
# The authenticated principal of a request; handlers read it through accounts.http.account_of().
REQUEST_ACCOUNT: web.RequestKey[Principal] = web.RequestKey("account")
REQUEST_KEY_ID = web.RequestKey("key_id", str)
REQUEST_SCOPES = web.RequestKey("scopes", frozenset)


def actor_of(request: web.Request) -> str:
    """Who made a request, as the audit trail names it: the key's public id (never the key)."""
    principal = request[REQUEST_ACCOUNT]
    return ("admin-key:" if principal.admin else "key:") + request[REQUEST_KEY_ID]


_HTTP_ERRORS = {
    404: ("Not found", "No such endpoint"),
    405: ("Method not allowed", "This endpoint does not accept that method"),
    413: ("Payload too large", "The request body exceeds the size limit"),
}


def _error(status: int, body: dict, headers=None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


# The status logged (and counted) when the client hung up before its request was read: the
# client's doing, not a server error (nginx's convention; no response reaches anyone anyway).
CLIENT_CLOSED = 499
# Load balancers poll /health and /ready every few seconds: its access lines are DEBUG, not INFO.
_QUIET_PATHS = frozenset({"/health", "/ready"})
# 503 (the database or the PBX away, the writer busy) and 507 (the disk full): answered on purpose
_OUTAGES = frozenset({503, 507})


@web.middleware
async def api_middleware(request: web.Request, handler):
    """The one middleware: auth + rate limit, error → JSON, and the access line.

    One layer rather than three: aiohttp wraps every middleware around every request, and on the
    hot lookups that wrapping costs as much as the SQLite query.
    """
    started = time.perf_counter()
    try:
        response = await _authorized(request, handler)
    except DomainError as exc:
        response = _error(exc.status, exc.body())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _http_error(request, exc)
    except ConnectionResetError:
        # The client went away mid-request (mid-upload, typically): nothing to answer, and
        # nothing wrong here. aiohttp's ClientConnectionResetError is a ConnectionResetError.
        response = web.Response(status=CLIENT_CLOSED)
    except Exception:
        # The traceback goes to our log, never to the client.
        log.exception("http.unhandled", extra={"fields": {"method": request.method,
                                                          "path": request.path}})
        response = _error(500, {"error": "Internal server error",
                                "message": "An unexpected error occurred",
                                "timestamp": utc_now_iso()})
    _access_line(request, response.status, started)
    return response


def _access_line(request: web.Request, status: int, started: float) -> None:
    """method, route template (not the path: ids and numbers stay out of the log), status,
    duration, account and key id (the key's public part; never the key); and the metrics."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else None
    metrics = request.app.get(HTTP_METRICS)
    if metrics is not None:
        metrics.observe(route, request.method, status, time.perf_counter() - started)
    if status >= 500 and status not in _OUTAGES:
        level = logging.ERROR  # a bug of ours
    elif request.path in _QUIET_PATHS:
        level = logging.DEBUG
    elif status in (401, 403) or status in _OUTAGES:
        # failed authentication (who tried, from where), or a refusal while a dependency is
        # away: worth seeing, not an error of callbridge's (the outage itself is logged once)
        level = logging.WARNING
    else:
        level = logging.INFO
    if not log.isEnabledFor(level):
        return
    account = request.get(REQUEST_ACCOUNT)
    event(log, "http.request", level, method=request.method, route=route, status=status,
          ms=round((time.perf_counter() - started) * 1000, 2),
          account=getattr(account, "name", "(admin)") if account else None,
          key_id=request.get(REQUEST_KEY_ID),
          client=request.remote)


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    error, message = _HTTP_ERRORS.get(exc.status, (exc.reason, exc.text or exc.reason))
    if exc.status == 413:
        message = f"The request body exceeds {request.app._client_max_size} bytes"
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    return _error(exc.status, {"error": error, "message": message}, headers)


def presented_key(request: web.Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _rate_headers(v) -> dict[str, str]:
    return {"RateLimit-Limit": str(v.limit), "RateLimit-Remaining": str(v.remaining),
            "RateLimit-Reset": str(v.reset_after)}


_KEYED = Auth()  # a route mounted otherwise (aiohttp-cors' own): a key, like the rest


async def _authorized(request: web.Request, handler):
    """Key check, then the per-key (or per-IP) rate limit. Public endpoints skip both."""
    auth = request.app.get(ROUTE_AUTH, {}).get(request.match_info.route, _KEYED)
    if auth.public or request.match_info.http_exception is not None:
        return await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        # A CORS preflight never carries credentials (Fetch spec): aiohttp-cors answers it,
        # allowing only CALLBRIDGE_CORS_ORIGINS; the real request that follows is authenticated.
        return await handler(request)
    limiter = request.app[LIMITER]
    key = presented_key(request)
    grant = await request.app[ACCOUNT].authenticate(key) if key else None
    if key is None and "ticket" in request.query and auth.ticket:
        redeemed = await request.app[TICKETS].redeem(request.query["ticket"])
        if redeemed is None:
            await limiter.admit("ip:" + (request.remote or "?"))
            return _error(403, {"error": "Invalid ticket",
                                "message": "The ticket is unknown, used or expired:"
                                           " ask POST /events/ticket for a new one"})
        principal, key_id = redeemed
        # a ticket opens the one route it is for: a key with that route's scope asked for it
        return await _admitted(request, handler, limiter, principal, key_id,
                               frozenset({auth.scope}))
    if grant is None or grant.expired(time.time()):
        # Invalid keys count against the client IP, so random keys can't dodge the limit.
        verdict = await limiter.admit("ip:" + (request.remote or "?"))
        headers = _rate_headers(verdict)
        if not verdict.allowed:
            return _too_many(verdict, "Too many requests from this IP, please try again later.")
        if grant is not None:
            return _error(401, _expired_body(grant, auth), headers)
        if auth.unauthorized is not None:
            return _error(401, dict(auth.unauthorized), headers)
        if key is None:
            return _error(401, {"error": "API key is required",
                                "message": "Please provide API key in x-api-key header or"
                                           " Authorization header"}, headers)
        return _error(403, {"error": "Invalid API key",
                            "message": "The provided API key is not valid or has been revoked"},
                      headers)
    if grant.principal.admin != auth.admin:
        # Two roles that never overlap: an admin key manages accounts and reads no account's
        # data; an account key never manages.
        await limiter.admit("key:" + grant.key_id)
        if auth.admin:
            return _error(403, {"error": "Admin key required",
                                "message": "this route manages accounts: use a key made with"
                                           " `callbridge keys create --admin`"})
        return _error(403, {"error": "Account key required",
                            "message": "an admin key manages accounts (/admin/…); it reads no"
                                       " account's data"})
    if auth.scope != ANY_ACCOUNT_KEY and auth.scope not in grant.scopes:
        await limiter.admit("key:" + grant.key_id)
        return _error(403, {"error": "Insufficient scope",
                            "message": f"this key lacks the scope {auth.scope!r} this route needs"
                                       f" (it has: {', '.join(sorted(grant.scopes))}); make a key"
                                       " with it: `callbridge keys create --scope ...`",
                            "scope": auth.scope})
    return await _admitted(request, handler, limiter, grant.principal, grant.key_id, grant.scopes)


def _expired_body(grant: Credential, auth: Auth) -> dict:
    when = datetime.fromtimestamp(grant.expires or 0, timezone.utc).isoformat(
        timespec="seconds").replace("+00:00", "Z")
    body = dict(auth.unauthorized) if auth.unauthorized is not None else {
        "error": "API key expired"}
    body["message"] = f"key {grant.key_id} expired at {when}: ask for a new key"
    return body


async def _admitted(request: web.Request, handler, limiter: Limiter, account: Principal,
                    key_id: str, scopes: frozenset[str]):
    """An authenticated request: the key's rate limit, then the handler."""
    request[REQUEST_KEY_ID] = key_id
    verdict = await limiter.admit("key:" + key_id)
    if not verdict.allowed:
        return _too_many(verdict, "Too many requests for this API key, please try again later.")
    request[REQUEST_ACCOUNT] = account
    request[REQUEST_SCOPES] = scopes
    headers = request[PRE_HEADERS] = _rate_headers(verdict)
    response = await handler(request)
    if not response.prepared:  # a streamed response already sent them (routing.stream_json)
        response.headers.update(headers)
    return response


def _too_many(verdict, text: str) -> web.Response:
    headers = _rate_headers(verdict)
    headers["Retry-After"] = str(verdict.reset_after)
    return _error(429, {"error": text,
                        "message": f"Limit is {verdict.limit} requests per window;"
                                   f" retry after {verdict.reset_after} s"}, headers)
