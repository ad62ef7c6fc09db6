"""GET /health, /ready (no auth), GET /status, GET /openapi.json and /asyncapi.json."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from callbridge.errors import DomainError
from callbridge.scopes import ANY_ACCOUNT_KEY
from callbridge.system.models import Health, Ready, ServiceStatus, Status
from callbridge.timeutil import utc_now_iso
from callbridge.web.routing import RouteTable, json_ok

routes = RouteTable("system")

# name -> async () -> ServiceStatus; each room registers its own probe in the app factory.
StatusProbe = Callable[[], Awaitable[ServiceStatus]]
PROBES = web.AppKey("status_probes", dict)
OPENAPI = web.AppKey("openapi", dict)
ASYNCAPI = web.AppKey("asyncapi", dict)  # the call events' document (events.models.CATALOGUE)
# () -> the AMI link's state for /health; set by the app factory.
PBX_STATE: web.AppKey[Callable[[], str]] = web.AppKey("pbx_state")
LINK_STATES: web.AppKey[Callable[[], dict]] = web.AppKey("link_states")  # node -> link state
READINESS: web.AppKey[Callable[[], Awaitable[Ready]]] = web.AppKey("readiness")
METRICS = web.AppKey("metrics_registry", CollectorRegistry)
METRICS_TOKEN = web.AppKey("metrics_token", str)


class NotReady(DomainError):
    status = 503
    error = "Not ready"


class MetricsUnauthorized(DomainError):
    status = 401
    error = "Metrics token required"


@routes.route("GET", "/health", summary="Is the API gateway running", response=Health, public=True)
async def health(request):
    """Liveness for load balancers: no key needed. `pbx` says how the AMI link to Asterisk is
    (online, offline, connecting, login_failed, disabled).
    """
    return json_ok(Health(timestamp=utc_now_iso(), services=sorted(request.app[PROBES]),
                          pbx=request.app[PBX_STATE](), links=request.app[LINK_STATES]()))


@routes.route("GET", "/ready", summary="Can this instance serve requests", response=Ready,
              public=True, errors=(503,))
async def ready(request):
    """Readiness for load balancers: no key needed, answered within about a second. 503 while the
    database doesn't answer, or while every configured Asterisk link is down: an instance cut
    off from PostgreSQL (or from every PBX) should get no traffic, though it is alive. /health
    stays the liveness probe: it never asks the database, so a restart is not triggered by a
    database outage. docs/operator.md says which to use where.
    """
    state = await request.app[READINESS]()
    if not state.ready:
        why = [what for what, bad in (("the database does not answer",
                                       state.database != "reachable"),
                                      ("every Asterisk link is down", state.pbx == "unreachable"))
               if bad]
        raise NotReady(" and ".join(why), database=state.database, pbx=state.pbx)
    return json_ok(state)


@routes.route("GET", "/status", scope=ANY_ACCOUNT_KEY,
              summary="Status of every backend service", response=Status)
async def status(request):
    """Each backend service (contacts store, dialer's AMI link) with its state and details;
    `degraded` when one is not online.
    """
    services = {name: await probe() for name, probe in request.app[PROBES].items()}
    overall = "ok" if all(s.status == "online" for s in services.values()) else "degraded"
    return json_ok(Status(status=overall, timestamp=utc_now_iso(), services=services))


@routes.route("GET", "/openapi.json", summary="This API's OpenAPI document", public=True,
              hidden=True)
async def openapi(request):
    return web.json_response(request.app[OPENAPI])


@routes.route("GET", "/asyncapi.json", summary="The call events' AsyncAPI 3.0 document (GET"
              " /events, webhooks)", public=True, hidden=True)
async def asyncapi(request):
    return web.json_response(request.app[ASYNCAPI])


@routes.route("GET", "/metrics", summary="Prometheus metrics (Bearer CALLBRIDGE_METRICS_TOKEN"
              " when one is set)", public=True, hidden=True)
async def metrics(request):
    token = request.app[METRICS_TOKEN]
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            raise MetricsUnauthorized("send Authorization: Bearer <CALLBRIDGE_METRICS_TOKEN>")
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
