"""The application factory: builds the database, stores, services and routes, and wires them."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
import ssl
from dataclasses import dataclass

import aiohttp_cors
from aiohttp import web

from callbridge import __version__
from callbridge.accounts import routes as extension_routes
from callbridge.accounts import wiring as accounts_wiring
from callbridge.accounts.extensions import ExtensionService
from callbridge.admin import routes as admin_routes
from callbridge.ami.calls import CallModel
from callbridge.ami.lease import NodeLease, SoleLease, while_held
from callbridge.ami.link import AmiLink, AmiSettings
from callbridge.audit import routes as audit_routes
from callbridge.audit import wiring as audit_wiring
from callbridge.callerid import routes as callerid_routes
from callbridge.callerid import wiring as callerid_wiring
from callbridge.calllog import routes as calllog_routes
from callbridge.calllog.service import CallLogService
from callbridge.contacts import agentvoice, relatel, transfer_routes
from callbridge.contacts import routes as contact_routes
from callbridge.contacts import wiring as contacts_wiring
from callbridge.contacts.lookup import ContactLookup
from callbridge.db import Db, database_for, database_shown
from callbridge.dialer import routes as dialer_routes
from callbridge.dialer import wiring as dialer_wiring
from callbridge.dialer.devices import ReachableDevices
from callbridge.dialer.notifier import DialNotifier
from callbridge.dialer.service import DialNode
from callbridge.dialer.tracker import CallTracker, LostCalls
from callbridge.events import routes as events_routes
from callbridge.events import wiring as events_wiring
from callbridge.events.calls import CallEvents
from callbridge.events.endings import CallEndings
from callbridge.events.journal import EventJournal
from callbridge.events.models import asyncapi_document
from callbridge.events.notifier import CallNotifier
from callbridge.logs import event
from callbridge.presence import routes as presence_routes
from callbridge.presence import wiring as presence_wiring
from callbridge.screenpop import routes as screenpop_routes
from callbridge.settings import AmiNode, ConfigError, Settings
from callbridge.system import docs as docs_routes
from callbridge.system import routes as system_routes
from callbridge.system.metrics import NodeReading, Readings, build_registry
from callbridge.system.models import Ready, ServiceStatus
from callbridge.variants import EngineVariants
from callbridge.web import middleware as mw
from callbridge.web.ratelimit import FixedWindowLimiter, SharedWindowLimiter
from callbridge.web.routing import openapi_document
from callbridge.web.server import ApiRunner, tls_context
from callbridge.webhooks import routes as webhook_routes
from callbridge.webhooks import wiring as webhooks_wiring
from callbridge.webhooks.sender import WebhookSender

log = logging.getLogger("callbridge")

MAX_BODY_BYTES = 1024 * 1024
READY_WAIT = 1.0  # /ready: how long the database may take to answer SELECT 1
DATABASE: web.AppKey[Db] = web.AppKey("database")
SETTINGS = web.AppKey("settings", Settings)

AMI_LINK = web.AppKey("ami_link", AmiLink)  # the first node's
NODES = web.AppKey("nodes", list)  # every node (Node), in CALLBRIDGE_AMI's order

ROUTE_TABLES = [system_routes.routes, transfer_routes.routes, contact_routes.routes,
                agentvoice.routes, relatel.routes,
                dialer_routes.routes, calllog_routes.routes, callerid_routes.routes,
                events_routes.routes, webhook_routes.routes, extension_routes.routes,
                presence_routes.routes,
                screenpop_routes.routes, admin_routes.routes, audit_routes.routes,
                docs_routes.routes]


def build_ami_link(settings: Settings, node: AmiNode | None = None) -> AmiLink:
    node = node or settings.nodes()[0]
    return AmiLink(AmiSettings(
        host=node.host, port=node.port, username=node.username, secret=node.secret,
        tls=settings.ami_tls_context() if node.tls else None,
        action_timeout=settings.ami_action_timeout, ping_interval=settings.ami_ping_interval,
        reconnect_max=settings.ami_reconnect_max))


@dataclass
class Node:
    """One Asterisk node as the app runs it."""

    name: str
    settings: AmiNode
    link: AmiLink
    calllog: CallLogService
    lease: NodeLease | SoleLease
    devices: ReachableDevices
    calls: CallEvents
    lost_calls: LostCalls
    model: CallModel

    @property
    def configured(self) -> bool:
        return bool(self.settings.secret)

    @property
    def link_state(self) -> str:
        """The AMI link's state, or disabled when the node has no secret."""
        return self.link.status().state if self.configured else "disabled"

    def reading(self) -> NodeReading:
        return NodeReading(self.name, self.link_state, self.link.status().connects,
                           self.link.events_handled, self.calllog.rows_written, self.lease.held)

    def status(self, disabled_reason: str) -> dict:
        if not self.configured:
            return {"ami": "disabled", "last_error": disabled_reason}
        st = self.link.status()
        return {"ami": st.state, "since": st.since, "asterisk_version": st.asterisk_version,
                "last_error": st.last_error, "host": f"{self.settings.host}:{self.settings.port}",
                "ingest": self.lease.status()}


def _node(settings: Settings, node: AmiNode, db: Db, variants: EngineVariants,
          contacts: ContactLookup, extensions: ExtensionService, journal: EventJournal,
          tracker: CallTracker, *, first: bool) -> Node:
    link = build_ami_link(settings, node)
    # The node's calls, folded once from its channel events: the call log, the call events and
    # the dialer's progress subscribe to it (callbridge.ami.calls).
    model = CallModel(node.name, settings.ring_context)
    model.attach(link)
    calllog = CallLogService(db, contacts, extensions, calls=model,
                             csv_path=node.cdr_csv, region=settings.region,
                             csv_history=settings.cdr_csv_history, ami_online=lambda: link.online,
                             node=node.name, adopts=first)
    calllog.row_listener = CallEndings(journal)  # call.ended / call.missed, stored with the rows
    calls = CallEvents(CallNotifier(journal, contacts), extensions,
                       dialed_number=tracker.number_of, node=node.name)
    # One instance at a time turns the node's events into call-log rows and call events (the
    # lease holder: callbridge.ami.lease); every instance follows its own click-to-dial calls.
    lease = variants.lease(node.name)
    calllog.leading = lambda: lease.held
    model.subscribe(calls, when=lambda: lease.held)
    model.subscribe(calllog, when=lambda: lease.held)
    model.subscribe(calllog.leaving)  # every instance: who answered the calls up (calllog.live)
    model.subscribe(calllog.far_ends)  # every instance: when click-to-dial far ends answered
    model.subscribe(tracker)
    link.on("ContactStatus", while_held(lease, calls.on_contact_status))
    link.on("Cdr", while_held(lease, calllog.on_cdr))
    lease.on_acquired(calllog.lease_taken)
    devices = ReachableDevices(link)
    link.on("ContactStatus", devices.on_contact_status)

    async def prewarm_devices() -> None:  # after each connect: first clicks need no Getvar
        await devices.prewarm([e.extension for e in await extensions.list()
                               if (e.node or None) in ((node.name,) + ((None,) if first else ()))])

    link.on_connect(prewarm_devices)
    # this instance's click-to-dials on the node end when the node is lost, not only on a Hangup
    lost_calls = LostCalls(tracker, node.name, link)
    link.on_disconnect(lost_calls.link_down)
    model.subscribe(lost_calls)
    return Node(node.name, node, link, calllog, lease, devices, calls, lost_calls, model)


def create_app(settings: Settings) -> web.Application:
    """The shared core (settings, database, the Asterisk nodes with their links and leases, the
    event journal) and the rooms, each wiring itself. Each registers what it runs as a cleanup
    context: they start in this order and stop in the reverse one (the nodes' links first, the
    database last)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[mw.api_middleware])
    db = database_for(settings.database, default_region=settings.region,
                      pool_size=settings.database_pool_size)
    # one process on SQLite, or instances sharing PostgreSQL (and the nodes this one prefers)
    variants = EngineVariants(db, settings.preferred_nodes())
    app[SETTINGS], app[DATABASE] = settings, db
    app.cleanup_ctx.append(_database_open(db))
    audit = audit_wiring.wire(app, db, settings.audit_retention_days)
    accounts, extensions = accounts_wiring.wire(app, db, [n.name for n in settings.nodes()],
                                                audit, variants.listener)
    app[admin_routes.ACCOUNTS], app[admin_routes.EXTENSIONS] = accounts, extensions
    app[mw.LIMITER] = _rate_limiter(app, variants.limiter(*settings.rate_limit_parsed))
    contacts = contacts_wiring.wire(app, db, accounts, variants.lookup_cache())
    callerid_wiring.wire(app, settings, contacts.lookup, extensions)
    journal = events_wiring.wire(app, db, settings, variants.tickets(), variants.fanin)
    sender = webhooks_wiring.wire(app, db, journal, audit,
                                  settings.webhook_allow_private)
    tracker = CallTracker(on_change=DialNotifier(journal.publish).progress)
    nodes = _nodes(app, settings, db, variants, contacts.lookup, extensions, journal, tracker)
    dialer_wiring.wire(app, settings, extensions, contacts.lookup, tracker,
                       {n.name: DialNode(n.link, n.devices, n.calllog) for n in nodes},
                       journal.latest_progress)
    presence_wiring.wire(app, extensions, {n.name: (n.devices, n.model) for n in nodes})
    _system(app, settings, db, nodes, sender, journal)
    for table in ROUTE_TABLES:
        table.mount(app)
    if settings.cors_origin_list:
        allow_cors(app, settings.cors_origin_list)
    app[system_routes.OPENAPI] = openapi_document(ROUTE_TABLES, "callbridge", __version__)
    app[system_routes.ASYNCAPI] = asyncapi_document("callbridge", __version__)
    return app


def _database_open(db: Db):
    async def database(app: web.Application):
        await db.open()  # a database that can't be opened: ConfigError naming the setting
        yield
        await db.close()
        event(log, "service.stopped")
    return database


def _rate_limiter(app: web.Application, limiter: FixedWindowLimiter | SharedWindowLimiter
                  ) -> FixedWindowLimiter | SharedWindowLimiter:
    async def running(app: web.Application):
        yield
        await limiter.close()  # hits admitted from memory reach the shared windows

    app.cleanup_ctx.append(running)
    return limiter


def _nodes(app: web.Application, settings: Settings, db: Db, variants: EngineVariants,
           contacts: ContactLookup, extensions: ExtensionService, journal: EventJournal,
           tracker: CallTracker) -> list[Node]:
    """Each Asterisk node: its AMI link, its call model, its call log (its Master.csv), its call
    events and the lease saying which instance reads it (callbridge.ami.lease)."""
    nodes = [_node(settings, n, db, variants, contacts, extensions, journal, tracker,
                   first=i == 0) for i, n in enumerate(settings.nodes())]
    app[NODES] = nodes
    app[AMI_LINK] = nodes[0].link
    app[calllog_routes.SERVICE] = nodes[0].calllog  # reads the rows of every node

    async def running(app: web.Application):
        for n in nodes:
            await n.lease.start()  # the first ask before the link's first event
        for n in nodes:
            await n.calllog.start()
            if n.configured:
                n.link.start()  # in the background: the HTTP API serves while Asterisk is down
            else:
                event(log, "ami.disabled", logging.WARNING, node=n.name,
                      reason=f"{_ami_disabled(settings)}: the dialer answers 503")
        yield
        for n in nodes:
            await n.link.close()
            await n.lost_calls.close()
            await n.lease.close()
            await n.calls.drain()  # events still waiting for a contact lookup reach the journal
        for n in nodes:
            await n.calllog.close()

    app.cleanup_ctx.append(running)
    return nodes


def _ami_disabled(settings: Settings) -> str:
    return (f"no CALLBRIDGE_AMI_SECRET and no [{settings.ami_username}] user in"
            f" {settings.ami_manager_conf}")


def _system(app: web.Application, settings: Settings, db: Db,
            nodes: list[Node], sender: WebhookSender, journal: EventJournal) -> None:
    """/status's probes, /ready, /metrics and the event loop's lag."""
    first = nodes[0]

    async def contacts_probe() -> ServiceStatus:
        try:
            await db.fetchone("SELECT 1")
            return ServiceStatus(status="online", detail={"database": str(db.path),
                                                          "engine": db.engine})
        except Exception as exc:  # reported, not raised: /status must answer
            return ServiceStatus(status="offline", detail={"error": type(exc).__name__})

    async def dialer_probe() -> ServiceStatus:
        """The first node's link at the top (as with one node), every node under `nodes`."""
        shown = {n.name: n.status(_ami_disabled(settings)) for n in nodes}
        online = all(d["ami"] == "online" for d in shown.values())
        return ServiceStatus(status="online" if online else "offline",
                             detail={**shown[first.name], "nodes": shown})

    dialer = app[dialer_routes.SERVICE]
    limiter = app[mw.LIMITER]
    registry, http_metrics, loop_lag = build_registry(Readings(
        nodes=lambda: [n.reading() for n in nodes], originates=lambda: dict(dialer.outcomes),
        rate_limited=lambda: limiter.rejected, webhook_deliveries=lambda: dict(sender.outcomes),
        stream_clients=journal.hub.client_count, events_stored=lambda: journal.stored))
    app[system_routes.METRICS] = registry
    app[system_routes.METRICS_TOKEN] = settings.metrics_token.get_secret_value()
    app[mw.HTTP_METRICS] = http_metrics

    async def readiness() -> Ready:
        try:
            async with asyncio.timeout(READY_WAIT):
                await db.fetchone("SELECT 1")
            database = "reachable"
        except Exception:  # noqa: BLE001 - any failure to answer is "unreachable"
            database = "unreachable"
        configured = [n for n in nodes if n.configured]
        pbx = ("disabled" if not configured else
               "online" if any(n.link.online for n in configured) else "unreachable")
        return Ready(ready=database == "reachable" and pbx != "unreachable", database=database,
                     pbx=pbx)

    app[system_routes.PROBES] = {"contacts": contacts_probe, "dialer": dialer_probe}
    app[system_routes.READINESS] = readiness
    app[system_routes.PBX_STATE] = lambda: first.link_state
    app[system_routes.LINK_STATES] = lambda: {n.name: n.link_state for n in nodes}

    async def lag_measured(app: web.Application):
        loop_lag.start()
        yield
        await loop_lag.close()

    app.cleanup_ctx.append(lag_measured)


def allow_cors(app: web.Application, origins: list[str]) -> None:
    """CORS for CALLBRIDGE_CORS_ORIGINS only. No credentials mode: the key travels in a header,
    not a cookie, so a browser needs no credentialed requests and none are allowed."""
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False, allow_headers=("x-api-key", "authorization", "content-type"),
        expose_headers=("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
                        "Retry-After"), max_age=600)
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        cors.add(route)


async def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (aiohttp's GracefulExit). "service.started" is logged only once
    the port is bound; an operator's mistake (port in use, database or certificate unreadable) is
    a ConfigError naming the setting, never a 'started' line and a traceback."""
    ssl_context = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        try:
            ssl_context = tls_context(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CALLBRIDGE_TLS_CERT / CALLBRIDGE_TLS_KEY: cannot load"
                              f" {settings.tls_cert} with {settings.tls_key}: {exc}") from None
    app = create_app(settings)
    runner = ApiRunner(app, access_log=None, handle_signals=True)
    await runner.setup()  # opens and migrates the database, starts the call log and AMI link
    try:
        site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:
            # a host that doesn't resolve or isn't this machine's is the host setting's fault
            # (it was reported as the port's); asyncio rewrites strerror into a sentence quoting
            # the address: the errno's own text
            unknown_host = isinstance(exc, socket.gaierror)
            setting = "CALLBRIDGE_HOST" if unknown_host or exc.errno == errno.EADDRNOTAVAIL \
                else "CALLBRIDGE_PORT"
            reason = exc.strerror if unknown_host else (
                os.strerror(exc.errno) if exc.errno else str(exc))
            raise ConfigError(f"{setting}: cannot listen on {settings.host}:{settings.port}:"
                              f" {reason}") from None
        # Everything built at start-up lives as long as the process: out of the collector's way,
        # so a full collection doesn't walk it in the middle of a click (measured: the 50-at-once
        # dialer tail, 3.3-7.6 ms -> 1.5-3.7 ms; docs/benchmarks.md).
        gc.freeze()
        scheme = "https" if ssl_context else "http"
        nodes = [n for n in settings.nodes() if n.secret]
        ami = (" ".join(n.where if n.name == "default" else f"{n.name}={n.where}" for n in nodes)
               or "disabled")  # user@host:port of each node, never its secret
        event(log, "service.started", url=f"{scheme}://{settings.host}:{settings.port}",
              database=database_shown(settings.database), ami=ami, version=__version__)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
