"""The one supervised AMI link. The only module that imports panoramisk.

panoramisk 1.4 is a thin AMI client with sharp edges, each handled here:

- A failed login does not raise (``authenticated`` just stays False): we await the Login response
  and treat a refusal as a failure with its own state (``login_failed``), retried with backoff.
- Its pinger never checks the reply: we send our own Ping and count a missing answer as a dead link.
- After a reconnect it re-sends every unanswered action, so an Originate could ring twice: we never
  reuse a connection's Manager. Each connection gets a fresh one, and on loss every pending action
  fails with ``AmiLinkLost``; nothing is ever re-sent. (State-changing actions are also marked
  forgettable in panoramisk, in case a future version reuses its queue.)
- Actions have no timeout: every action here has one. (Timeouts are ``asyncio.timeout``, never
  ``asyncio.wait_for``: on Python 3.11 wait_for can swallow a cancellation that races the awaited
  result, CPython gh-86296, and a supervisor that missed its cancel would ping forever.)
- An exception in an event callback escapes into ``data_received`` and closes the socket: panoramisk
  sees exactly one callback of ours, which hands each event to our handlers one by one, each in its
  own try/except, so one broken handler can neither drop the link nor starve the others.
- Its own reconnect is a fixed delay: we reconnect with capped exponential backoff instead.
- Its reader decodes every read on its own, ignoring errors, so a UTF-8 character that a read
  boundary splits (the "é" of "José") is silently dropped; it also builds a case-folding dict of
  every message, handled or not, and buffers a peer's bytes without bound: ``_AmiProtocol`` reads
  unsolicited events itself (see there) and leaves answers to actions to panoramisk.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk import actions as pk_actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callbridge.aio import cancel_and_wait
from callbridge.logs import event
from callbridge.timeutil import utc_now_iso

log = logging.getLogger("callbridge.ami")

EventHandler = Callable[[dict[str, str]], Awaitable[None] | None]
# an event's lower-case name and every handler for it (empty: nobody handles it)
Route = tuple[str, tuple[EventHandler, ...]]

# Actions that change calls or the PBX: never re-sent after a reconnect.
STATE_CHANGING = ("originate", "hangup", "command", "redirect", "bridge", "atxfer", "blindtransfer")


class AmiError(Exception):
    """An AMI action failed (Asterisk answered Error, or no answer in time)."""


class AmiUnavailable(AmiError):
    """The link is not up: nothing was sent."""


class AmiLinkLost(AmiError):
    """The link dropped after the action was sent and before its answer: it is NOT re-sent."""


class AmiTimeout(AmiError):
    """No answer within the action timeout."""


@dataclass
class AmiSettings:
    host: str
    port: int
    username: str
    secret: str
    action_timeout: float = 5.0
    ping_interval: float = 5.0
    reconnect_initial: float = 0.25
    reconnect_max: float = 30.0
    connect_timeout: float = 5.0
    tls: ssl.SSLContext | None = None  # AMI over TLS (manager.conf tlsenable), checked with this


@dataclass
class LinkStatus:
    state: str  # "offline" | "connecting" | "online" | "login_failed" | "disabled"
    since: str
    asterisk_version: str | None
    last_error: str | None
    connects: int


def _event_name(message) -> str:
    """The lower-case event name, read straight from the message's store (see _as_dict)."""
    store = getattr(message, "_store", None)
    if isinstance(store, dict):
        entry = store.get("event")
        return entry[1].lower() if entry else ""
    return str(message.get("Event", "")).lower()


def _as_dict(message) -> dict[str, str]:
    """A panoramisk Message as a plain dict with Asterisk's header names. Its case-insensitive
    dict keeps {lower: (Key, value)}; reading that directly is ~5x faster than items(), which
    case-folds every key again (measured: a third of the call log's ingest time)."""
    store = getattr(message, "_store", None)
    if isinstance(store, dict):
        return {k: v for k, v in store.values() if k != "content"}
    return {k: v for k, v in message.items() if k != "content"}


class _TrackedAction(pk_actions.Action):
    """An Action that also reports its first answer (``accepted``), before panoramisk's future
    resolves. An async Originate answers 'queued' at once but completes only when the call is
    answered or fails, up to the ring timeout later."""

    def __init__(self, *args, on_final=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.accepted: asyncio.Future = asyncio.get_running_loop().create_future()
        self._on_final = on_final

    def add_message(self, message):
        if not self.accepted.done():
            self.accepted.set_result(message)
        done = super().add_message(message)
        if self.future.done() and self._on_final is not None:
            callback, self._on_final = self._on_final, None
            try:
                callback(message)
            except Exception:
                log.exception("ami.final_callback_failed")
        return done


# A frame is a few hundred bytes; a peer that sends this much without a frame end is not AMI.
MAX_FRAME_BYTES = 1 << 20
_GREETING = "Asterisk Call Manager/"


def _event_fields(text: str) -> dict[str, str]:
    """An event frame's headers, as Asterisk names them. Lines without ': ' are skipped and a
    repeated header becomes a list, as panoramisk does (e.g. ChanVariable)."""
    fields: dict[str, Any] = {}
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    return fields


class _AmiProtocol(AMIProtocol):
    """panoramisk's protocol with our own reader in front.

    Bytes are split into frames before decoding, so a character torn between two reads stays
    whole (caller ID names are not ASCII), and a byte that isn't UTF-8 shows as U+FFFD instead
    of vanishing. An unsolicited
    event (no ActionID) goes straight to the link: one whose name no handler wants is dropped
    before its headers are parsed, and a wanted one is parsed into a plain dict once. Everything
    else (answers to actions, events belonging to an action such as CoreShowChannel or
    OriginateResponse, Shutdown) goes through panoramisk's own Message and handle_message
    unchanged. On the call log's replayed stream this reader is what lets ingest keep up with
    Asterisk (docs/benchmarks.md).
    """

    version: str | None  # the AMI protocol's, from the greeting (set by panoramisk's too)

    def connection_made(self, transport):
        super().connection_made(transport)
        self._pending_bytes = bytearray()

    def _keep_within_limit(self) -> None:
        pending = self._pending_bytes
        if len(pending) > MAX_FRAME_BYTES:
            log.warning("ami.oversize_frame_dropped", extra={"fields": {"bytes": len(pending)}})
            pending.clear()

    def data_received(self, data: bytes) -> None:
        pending = self._pending_bytes  # the start of a frame an earlier read ended in
        if pending:
            # only the new bytes (and 3 before them) can complete a frame end: a frame trickling
            # in byte by byte costs linear time, not a rescan of everything buffered per byte
            search_from = max(0, len(pending) - 3)
            pending += data
            if pending.find(b"\r\n\r\n", search_from) < 0:
                self._keep_within_limit()
                return
            data = bytes(pending)
            pending.clear()
        elif type(data) is not bytes:
            data = bytes(data)
        # split straight from the read's bytes: each copy of a 256 KiB read showed in the
        # ingest bench's profile
        frames = data.split(b"\r\n\r\n")
        tail = frames.pop()  # a frame not yet ended (or b"" when the read ended on a frame end)
        if tail:
            pending += tail
            self._keep_within_limit()
        factory = self.factory
        wanted = factory.wanted if factory is not None else None
        for raw in frames:
            # The common case first, on bytes: an unsolicited event is looked up by its name and
            # dropped undecoded when nobody handles it (over half of a busy PBX's stream).
            if wanted is not None and raw.startswith(b"Event: ") and b"\nActionID: " not in raw:
                end = raw.find(b"\r", 7)
                route = wanted(raw[7:] if end < 0 else raw[7:end])
                if route is not None:  # None: Shutdown, which panoramisk's path handles
                    if route[1]:
                        factory.link_event(route, raw)
                    continue
            text = raw.decode("utf-8", "replace").strip()
            if self.version is None and text.startswith(_GREETING):
                greeting, _, text = text.partition("\n")
                self.version = greeting.partition("/")[2].strip()
                text = text.strip()
            if not text:
                continue
            message = Message.from_line(text)
            if message is not None:
                self.handle_message(message)


class _Manager(Manager):
    """panoramisk's Manager with its reconnect machinery switched off: the link decides."""

    def __init__(self, on_lost: Callable[[Any], None], wanted: Callable[[bytes], Route | None],
                 link_event: Callable[[Route, bytes], None], **config):
        super().__init__(protocol_factory=_AmiProtocol, **config)
        self._on_lost = on_lost
        # _AmiProtocol asks wanted(raw event name) for its route, and hands link_event(route,
        # frame bytes) the frames someone handles
        self.wanted = wanted
        self.link_event = link_event

    def connection_made(self, f):
        if f.cancelled() or f.exception() is not None:
            self._on_lost(None if f.cancelled() else f.exception())
            return
        super().connection_made(f)

    def connection_lost(self, exc):
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self._on_lost(exc)


class AmiLink:
    def __init__(self, settings: AmiSettings):
        self.settings = settings
        self._handlers: dict[str, list[EventHandler]] = defaultdict(list)
        self._table: dict[str, tuple[EventHandler, ...]] = {}
        self._routes: dict[bytes, Route | None] = {}
        self._on_connect: list[Callable[[], Awaitable[None]]] = []
        self._on_disconnect: list[Callable[[], None]] = []
        self._manager: _Manager | None = None
        self._lost: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._pending: dict[int, _TrackedAction] = {}  # id() -> action (actions are dicts: unhashable)
        self._background: set[asyncio.Task] = set()
        self._state = "offline"
        self.events_handled = 0  # AMI events that reached a handler, for the metrics
        self._since = utc_now_iso()
        self._version: str | None = None
        self._last_error: str | None = None
        self._connects = 0
        self._online = asyncio.Event()

    # ---- public ------------------------------------------------------------------------------

    def on(self, event_name: str, handler: EventHandler) -> None:
        """Calls handler(event) for every AMI event of that name ('*' for all)."""
        self._handlers[event_name.lower()].append(handler)
        self._table.clear()  # rebuilt lazily: lower-case event name -> every handler for it
        self._routes.clear()  # and: the name as it came on the wire -> its route

    def on_connect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Runs after each successful login (e.g. to backfill what happened while offline)."""
        self._on_connect.append(callback)

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Calls callback() each time an online link goes down (synchronously, once a drop)."""
        self._on_disconnect.append(callback)

    @property
    def online(self) -> bool:
        return self._state == "online"

    def status(self) -> LinkStatus:
        return LinkStatus(self._state, self._since, self._version, self._last_error, self._connects)

    async def wait_online(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._online.wait()
            return True
        except asyncio.TimeoutError:
            return False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name="ami-link")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._teardown("link closed")
        for task in list(self._background):
            task.cancel()

    async def action(self, fields: dict[str, Any], *, timeout: float | None = None,
                     on_final: Callable[[dict], None] | None = None,
                     first_answer_only: bool = False) -> dict[str, str] | list[dict[str, str]]:
        """Sends one action and waits for its answer (with a timeout, always).

        first_answer_only: return the first answer (e.g. "Originate successfully queued") and let
        on_final receive the completing message (e.g. OriginateResponse) later.
        """
        manager = self._manager
        if not self.online or manager is None:
            raise AmiUnavailable(f"AMI link is {self._state}")
        timeout = timeout or self.settings.action_timeout
        act = _TrackedAction(fields, on_final=on_final)
        self._pending[id(act)] = act
        act.future.add_done_callback(lambda _f, key=id(act): self._pending.pop(key, None))  # noqa: B008
        manager.send_action(act)
        waiter = act.accepted if first_answer_only else act.future
        try:
            async with asyncio.timeout(timeout):
                result = await asyncio.shield(waiter)
        except asyncio.TimeoutError:
            raise AmiTimeout(f"{fields.get('Action')}: no answer from Asterisk in {timeout}s") from None
        if first_answer_only:
            if result.get("Response") == "Error":
                self._pending.pop(id(act), None)
                raise AmiError(f"{fields.get('Action')}: {result.get('Message', 'error')}")
            return dict(result)
        if isinstance(result, list):
            return [dict(m) for m in result]
        if result.get("Response") == "Error":
            raise AmiError(f"{fields.get('Action')}: {result.get('Message', 'error')}")
        return dict(result)

    async def getvar(self, variable: str) -> str:
        """A global/function value, e.g. PJSIP_DIAL_CONTACTS(309). '' when empty."""
        reply = await self.action({"Action": "Getvar", "Variable": variable})
        return reply.get("Value", "") if isinstance(reply, dict) else ""

    # ---- supervision -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.settings.reconnect_initial
        while True:
            exc_seen: BaseException | None = None
            try:
                await self._connect_once()
                delay = self.settings.reconnect_initial
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure ends in the same backoff
                exc_seen = exc
                self._last_error = f"{type(exc).__name__}: {exc}"[:300]
            self._teardown(self._last_error or "link lost")
            self._set_state("login_failed" if isinstance(exc_seen, PermissionError) else "offline")
            if self._state != "login_failed":  # said once already, see _connect_once
                event(log, "ami.reconnect_scheduled", logging.WARNING,
                      in_seconds=round(delay, 2), error=self._last_error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max)

    async def _connect_once(self) -> None:
        if self._state != "login_failed":  # retrying a refused login is still "login refused"
            self._set_state("connecting")
        loop = asyncio.get_running_loop()
        lost = asyncio.Event()
        self._lost = lost

        def on_lost(exc) -> None:
            if exc is not None and not isinstance(exc, Exception):
                exc = None  # panoramisk passes the Shutdown event itself
            self._last_error = f"connection lost: {exc}" if exc else "connection lost"
            loop.call_soon(self._connection_lost, manager, lost)

        manager = _Manager(
            on_lost, self._route, self._on_event_frame, loop=loop, host=self.settings.host,
            port=self.settings.port,
            username=self.settings.username, secret=self.settings.secret,
            ssl=self.settings.tls or False,
            ping_delay=10**9,  # panoramisk's pinger never checks replies; ours does
            reconnect_timeout=10**9, forgetable_actions=("ping", "login", *STATE_CHANGING))
        manager.register_event("*", self._dispatch)
        self._manager = manager
        async with asyncio.timeout(self.settings.connect_timeout):
            await manager.connect()
        for _ in range(100):  # connection_made runs as the connect task's callback
            if manager.authenticated_future is not None or lost.is_set():
                break
            await asyncio.sleep(0.01)
        if lost.is_set() or manager.authenticated_future is None:
            raise ConnectionError(self._last_error or "no AMI session")
        async with asyncio.timeout(self.settings.connect_timeout):
            login = await asyncio.shield(manager.authenticated_future)
        if not login.success:
            # panoramisk only sets authenticated=False here; we make it a visible state, and say
            # it once per change (not at every retry): the operator must fix a setting.
            self._last_error = f"login refused: {login.get('Message', 'authentication failed')}"
            if self._state != "login_failed":
                event(log, "ami.login_refused", logging.ERROR, username=self.settings.username,
                      host=self.settings.host, port=self.settings.port,
                      fix="check CALLBRIDGE_AMI_USERNAME / CALLBRIDGE_AMI_SECRET against the"
                          " [user] and its secret in Asterisk's manager.conf")
            self._set_state("login_failed")
            raise PermissionError(self._last_error)
        self._connects += 1
        self._last_error = None
        self._set_state("online")
        try:
            settings = await self.action({"Action": "CoreSettings"})
            self._version = settings.get("AsteriskVersion") if isinstance(settings, dict) else None
        except AmiError:
            self._version = None
        event(log, "ami.online", host=self.settings.host, port=self.settings.port,
              asterisk=self._version, connects=self._connects)
        for callback in self._on_connect:
            self._spawn(callback(), "on_connect")

    async def _watch(self) -> None:
        """Returns when the link is dead: the socket closed, or a Ping went unanswered."""
        assert self._lost is not None
        while True:
            try:
                async with asyncio.timeout(self.settings.ping_interval):
                    await self._lost.wait()
                raise ConnectionError(self._last_error or "connection lost")
            except asyncio.TimeoutError:
                pass
            try:
                reply = await self.action({"Action": "Ping"}, timeout=self.settings.action_timeout)
            except AmiError as exc:
                raise ConnectionError(f"ping unanswered: {exc}") from None
            if not isinstance(reply, dict) or reply.get("Response") != "Success":
                raise ConnectionError("ping answered with an error")

    def _connection_lost(self, manager: "_Manager", lost: asyncio.Event) -> None:
        """At once, not when the supervisor next looks: every pending action (a Ping in flight
        included) fails now, and new ones are refused instead of written to a dead socket."""
        lost.set()
        if self._manager is manager:
            self._teardown(self._last_error or "connection lost")
            self._set_state("offline")

    def _teardown(self, reason: str) -> None:
        manager, self._manager = self._manager, None
        self._online.clear()
        for act in list(self._pending.values()):
            error = AmiLinkLost(f"{act.get('action', 'action')}: AMI link lost before Asterisk"
                                f" answered ({reason}); not re-sent")
            for fut in (act.accepted, act.future):
                if not fut.done():
                    fut.set_exception(error)
                    fut.exception()  # mark retrieved: the caller may already have given up
        self._pending.clear()
        if manager is not None:
            manager.callbacks.clear()
            manager.awaiting_actions.clear()
            try:
                manager.close()
            except Exception:
                pass

    def _set_state(self, state: str) -> None:
        if state != self._state:
            was_online = self._state == "online"
            self._state = state
            self._since = utc_now_iso()
            if state == "online":
                self._online.set()
            event(log, "ami.state", state=state, error=self._last_error)
            if was_online:
                for callback in self._on_disconnect:
                    try:
                        callback()
                    except Exception:  # one listener's bug must not stop the link's supervision
                        log.exception("ami.on_disconnect_failed")

    # ---- events ------------------------------------------------------------------------------

    def _handlers_for(self, name: str) -> tuple[EventHandler, ...]:
        handlers = self._table.get(name)
        if handlers is None:
            handlers = self._table[name] = (*self._handlers.get(name, ()),
                                            *self._handlers.get("*", ()))
        return handlers

    def _route(self, raw_name: bytes) -> Route | None:
        """The route of an unsolicited event by its name as sent; None for Shutdown (ends the
        connection: panoramisk's path handles it)."""
        try:
            return self._routes[raw_name]
        except KeyError:
            pass
        name = raw_name.decode("utf-8", "replace").strip().lower()
        route = None if name == "shutdown" else (name, self._handlers_for(name))
        if len(self._routes) < 1000:  # names are a fixed set; a peer making them up isn't kept
            self._routes[raw_name] = route
        return route

    def _on_event_frame(self, route: Route, raw: bytes) -> None:
        """An unsolicited event someone handles, from _AmiProtocol: parsed once, here."""
        try:
            self._run_handlers(route[1], route[0], _event_fields(raw.decode("utf-8", "replace")))
        except Exception:
            log.exception("ami.dispatch_failed")

    def _dispatch(self, manager, message) -> None:
        """panoramisk's only callback (events that came through its Message path): never raises."""
        try:
            name = _event_name(message)
            handlers = self._handlers_for(name)
            if handlers:
                self._run_handlers(handlers, name, _as_dict(message))
        except Exception:
            log.exception("ami.dispatch_failed")

    def _run_handlers(self, handlers: tuple[EventHandler, ...], name: str, data: dict) -> None:
        """Each handler in its own try: one broken handler neither drops the link nor starves
        the others."""
        self.events_handled += 1
        for handler in handlers:
            try:
                result = handler(data)
                if result is not None and asyncio.iscoroutine(result):
                    self._spawn(result, name)
            except Exception:
                log.exception("ami.handler_failed", extra={"fields": {"event": name}})

    def _spawn(self, coro, what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)

        def done(t: asyncio.Task) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("ami.handler_failed", exc_info=t.exception(),
                          extra={"fields": {"event": what}})
        task.add_done_callback(done)


