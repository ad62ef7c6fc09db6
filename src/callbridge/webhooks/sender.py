"""Sends the outbox: due deliveries POSTed, signed, each endpoint in a lane of its own.

Each endpoint (webhook) has at most PER_ENDPOINT deliveries in flight and none waiting in
memory: a pass asks the outbox for at most the free places of each endpoint's lane, so the
outbox is the queue, never RAM. A slow or failing endpoint fills its own lane and no other: an
endpoint taking seconds per answer, or one of another account, never delays a healthy one
(they once shared 16 slots, and the slow one's backlog waited in memory ahead of everyone's).
At most MAX_IN_FLIGHT deliveries are sent at once in all.

A delivery is dispatched once per due time: besides those in flight, the ids that finished while
a pass read the outbox are skipped by that pass (its read may predate their recorded answer:
they were once sent twice).

Each attempt: no redirects followed (a 3xx is a failure), SEND_TIMEOUT s in all, at most 1 KiB
of the response body kept. A failure is retried after BACKOFF[attempts] seconds (0 s, 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27 h in all, as Standard Webhooks senders do);
when a delivery has used every try and its endpoint had no success since the delivery was
made, the endpoint is disabled, and its deliveries say so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import aiohttp
from yarl import URL

from callbridge import __version__
from callbridge.aio import cancel_and_wait
from callbridge.errors import DomainError
from callbridge.logs import background_failure, event
from callbridge.timeutil import utc_now_iso
from callbridge.webhooks.signing import sign
from callbridge.webhooks.store import WebhookStore
from callbridge.webhooks.targets import SafeResolver, TargetRefused, literal_ip, public_address

log = logging.getLogger("callbridge.webhooks")
BACKOFF = (5, 300, 1800, 7200, 18000, 36000, 36000)  # s after the 1st, 2nd … failed try
SEND_TIMEOUT = 10.0
RESPONSE_KEEP = 1024
PER_ENDPOINT = 4      # deliveries in flight to one endpoint (its connection pool's size too)
MAX_IN_FLIGHT = 64    # in flight in all, over every endpoint
IDLE_POLL = 1.0


class WebhookSender:
    def __init__(self, store: WebhookStore, allow_private: bool = False,
                 backoff: tuple[float, ...] = BACKOFF, timeout: float = SEND_TIMEOUT,
                 per_endpoint: int = PER_ENDPOINT):
        self.store = store
        self.allow_private = allow_private
        self.backoff = backoff
        self.timeout = timeout
        self.per_endpoint = per_endpoint
        self._wake = asyncio.Event()
        self._lanes: dict[int, set[int]] = {}  # webhook id -> delivery ids in flight
        self._finished: set[int] = set()       # finished since the current pass began reading
        self._sends: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.outcomes: Counter[str] = Counter()  # delivered / retry / failed, for the metrics

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=SafeResolver(self.allow_private),
                                         limit=MAX_IN_FLIGHT, limit_per_host=self.per_endpoint)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": f"callbridge/{__version__}"})
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-sender")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        for task in list(self._sends):
            await cancel_and_wait(task)
        if self._session is not None:
            await self._session.close()

    @property
    def in_flight(self) -> int:
        return len(self._sends)

    async def _run(self) -> None:
        while True:
            try:
                await self._dispatch_due()
            except Exception as exc:
                background_failure(log, "webhooks.dispatch_failed", exc)
            try:
                async with asyncio.timeout(IDLE_POLL):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def _dispatch_due(self) -> None:
        room = MAX_IN_FLIGHT - len(self._sends)
        if room <= 0:
            return
        busy = {hook: len(ids) for hook, ids in self._lanes.items() if ids}
        full = [hook for hook, n in busy.items() if n >= self.per_endpoint]
        self._finished.clear()  # what finishes from here on, this read may not have seen
        due = await self.store.due(time.time(), self.per_endpoint, full, room)
        skip = self._finished
        unsent: list[int] = []
        for d in due:
            lane = self._lanes.setdefault(d["webhook_id"], set())
            if d["id"] in lane:
                continue  # in flight already (its claim ran out mid-send): it stays claimed
            if d["id"] in skip or len(lane) >= self.per_endpoint or \
                    len(self._sends) >= MAX_IN_FLIGHT:
                unsent.append(d["id"])
                continue
            lane.add(d["id"])
            task = asyncio.get_running_loop().create_task(self._send(d))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        if unsent:
            # read but not sent (its lane filled up meanwhile, or it finished as the read ran):
            # due again at once, not when a claim of it runs out
            await self.store.release(unsent, time.time())

    async def _send(self, d: dict) -> None:
        try:
            await self._attempt(d)
        except Exception as exc:
            background_failure(log, "webhooks.send_failed", exc, delivery=d["id"])
        finally:
            lane = self._lanes.get(d["webhook_id"])
            if lane is not None:
                lane.discard(d["id"])
                if not lane:
                    del self._lanes[d["webhook_id"]]
            self._finished.add(d["id"])
            self._wake.set()  # a free place in its lane: the next due one may go

    async def _attempt(self, d: dict) -> None:
        assert self._session is not None
        body = d["payload"].encode()
        stamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": d["msg_id"],
                   "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(d["secret"], d["msg_id"], stamp, body)}
        status = error = response = None
        started = time.perf_counter()
        try:
            host = URL(d["url"]).host or ""
            if not self.allow_private and literal_ip(host) and not public_address(host):
                raise TargetRefused(f"{host} is not a public address")
            async with self._session.post(d["url"], data=body, headers=headers,
                                          allow_redirects=False) as resp:
                status = resp.status
                response = (await resp.content.read(RESPONSE_KEEP)).decode("utf-8", "replace")
        except TargetRefused as exc:
            error = str(exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
        ms = round((time.perf_counter() - started) * 1000, 1)
        attempts = d["attempts"] + 1
        now = utc_now_iso()
        values = {"attempts": attempts, "last_attempt_at": now, "last_status": status,
                  "last_error": error, "last_response": response, "last_ms": ms}
        if status is not None and 200 <= status < 300:
            values["status"] = "delivered"
            await self._saved(self.store.record_attempt, d["id"], values, (d["webhook_id"], now))
            self.sent += 1
            self.outcomes["delivered"] += 1
            return
        if error is None:
            assert status is not None  # an answer that was not 2xx
            values["last_error"] = (f"HTTP {status} (redirects are not followed)"
                                    if 300 <= status < 400 else f"HTTP {status}")
        if attempts <= len(self.backoff):
            values["next_attempt_at"] = time.time() + self.backoff[attempts - 1]
            await self._saved(self.store.record_attempt, d["id"], values)
            self.outcomes["retry"] += 1
            return
        values["status"] = "failed"
        await self._saved(self.store.record_attempt, d["id"], values)
        self.outcomes["failed"] += 1
        await self._maybe_disable(d, values["last_error"])

    async def _saved(self, write, *args) -> None:
        """An attempt's outcome written down, however long the database is away: the endpoint
        has its answer, and a delivery whose answer was lost would be sent again. Meanwhile it
        stays in its lane, so this instance doesn't send it again either."""
        delay = 0.2
        while True:
            try:
                await write(*args)
                return
            except Exception as exc:  # noqa: BLE001 - a driver's error as the server dies, too
                if isinstance(exc, DomainError) and exc.status < 500:
                    raise
                background_failure(log, "webhooks.record_failed", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _maybe_disable(self, d: dict, last_error: str) -> None:
        last_success = await self.store.last_success(d["webhook_id"])
        if last_success is not None and last_success > d["created_at"]:
            return  # the endpoint works again: this one message failed, not the endpoint
        reason = (f"every try of {d['msg_id']} failed since {d['created_at']}"
                  f" (last: {last_error})")
        await self.store.disable(d["webhook_id"], utc_now_iso(), reason)
        event(log, "webhooks.disabled", logging.WARNING, webhook_id=d["webhook_id"], reason=reason)
