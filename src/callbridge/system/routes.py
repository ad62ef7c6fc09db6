"""GET /health (no auth), GET /status, GET /openapi.json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from callbridge.system.models import Health, ServiceStatus, Status
from callbridge.timeutil import utc_now_iso
from callbridge.web.routing import RouteTable, json_ok

routes = RouteTable("system")

# name -> async () -> ServiceStatus; each room registers its own probe in the app factory.
StatusProbe = Callable[[], Awaitable[ServiceStatus]]
PROBES = web.AppKey("status_probes", dict)
OPENAPI = web.AppKey("openapi", dict)
# () -> the AMI link's state for /health; set by the app factory.
PBX_STATE = web.AppKey("pbx_state", Callable[[], str])


@routes.route("GET", "/health", summary="Is the API gateway running", response=Health, public=True)
async def health(request):
    return json_ok(Health(timestamp=utc_now_iso(), services=sorted(request.app[PROBES]),
                          pbx=request.app[PBX_STATE]()))


@routes.route("GET", "/status", summary="Status of every backend service", response=Status)
async def status(request):
    services = {name: await probe() for name, probe in request.app[PROBES].items()}
    overall = "ok" if all(s.status == "online" for s in services.values()) else "degraded"
    return json_ok(Status(status=overall, timestamp=utc_now_iso(), services=services))


@routes.route("GET", "/openapi.json", summary="This API's OpenAPI document", public=True,
              hidden=True)
async def openapi(request):
    return web.json_response(request.app[OPENAPI])
