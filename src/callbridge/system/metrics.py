"""Prometheus metrics (GET /metrics), from prometheus-client.

HTTP requests are counted as they happen (the web middleware's access line calls
HttpMetrics.observe). Everything else is read at scrape time from the counters the rooms
already keep (each Asterisk node's link state, connects, events and call-log rows and whether
this instance reads it, the dialer's outcomes, the limiter's rejections, the webhook sender's
results, the event hub's clients), so the hot paths pay nothing for metrics they don't own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from callbridge.aio import cancel_and_wait
from callbridge.web.metrics import HttpMetrics

LINK_STATES = ("online", "connecting", "offline", "login_failed", "disabled")


class LoopLag:
    """How late the event loop runs what is due: a task asks to wake every INTERVAL seconds and
    records how much later it did (callbridge_event_loop_lag_seconds). Everything the service does
    shares this loop, so a lag here is every request's and every AMI event's."""

    INTERVAL = 0.25

    def __init__(self, registry: CollectorRegistry):
        self.lag = Histogram("callbridge_event_loop_lag_seconds", "how late the event loop woke a"
                             " task due every 0.25 s", registry=registry,
                             buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5))
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="loop-lag")

    async def _watch(self) -> None:
        while True:
            due = time.perf_counter() + self.INTERVAL
            await asyncio.sleep(self.INTERVAL)
            self.lag.observe(max(0.0, time.perf_counter() - due))

    async def close(self) -> None:
        await cancel_and_wait(self._task)


@dataclass
class NodeReading:
    """One Asterisk node's figures as this instance sees them."""
    name: str
    link_state: str
    link_connects: int
    ami_events: int
    calllog_rows: int
    ingesting: bool  # this instance holds the node's lease: it writes the node's call log


@dataclass
class Readings:
    """Where the scrape reads each figure; every callable is cheap and never raises."""
    nodes: Callable[[], list[NodeReading]]
    originates: Callable[[], dict[str, int]]
    rate_limited: Callable[[], int]
    webhook_deliveries: Callable[[], dict[str, int]]
    stream_clients: Callable[[], int]
    events_stored: Callable[[], int]


class ServiceCollector:
    def __init__(self, readings: Readings):
        self.r = readings

    def collect(self) -> Iterable[Metric]:
        nodes = self.r.nodes()
        up = GaugeMetricFamily("callbridge_ami_link_state", "1 for each node's AMI link's current"
                               " state", labels=("node", "state"))
        reconnects = CounterMetricFamily("callbridge_ami_reconnects", "AMI logins after the"
                                         " first", labels=("node",))
        events = CounterMetricFamily("callbridge_ami_events", "AMI events processed",
                                     labels=("node",))
        rows = CounterMetricFamily("callbridge_call_log_rows", "call-log rows written here",
                                   labels=("node",))
        ingesting = GaugeMetricFamily("callbridge_ami_ingesting", "1 while this instance reads"
                                      " the node's events (holds its lease)", labels=("node",))
        for n in nodes:
            for s in LINK_STATES:
                up.add_metric((n.name, s), 1.0 if s == n.link_state else 0.0)
            reconnects.add_metric((n.name,), max(0, n.link_connects - 1))
            events.add_metric((n.name,), n.ami_events)
            rows.add_metric((n.name,), n.calllog_rows)
            ingesting.add_metric((n.name,), 1.0 if n.ingesting else 0.0)
        yield from (up, reconnects, events, rows, ingesting)
        originates = CounterMetricFamily("callbridge_originates", "click-to-dial requests by"
                                         " result", labels=("result",))
        for result, count in sorted(self.r.originates().items()):
            originates.add_metric((result,), count)
        yield originates
        yield CounterMetricFamily("callbridge_rate_limit_rejections", "requests answered 429",
                                  value=self.r.rate_limited())
        deliveries = CounterMetricFamily("callbridge_webhook_deliveries", "webhook delivery"
                                         " attempts by result", labels=("result",))
        for result, count in sorted(self.r.webhook_deliveries().items()):
            deliveries.add_metric((result,), count)
        yield deliveries
        yield GaugeMetricFamily("callbridge_event_stream_clients", "connected event-stream"
                                " clients", value=self.r.stream_clients())
        yield CounterMetricFamily("callbridge_events_stored", "call events stored in the journal",
                                  value=self.r.events_stored())
        # what a leak would grow: read at scrape time, on the loop's own thread
        yield GaugeMetricFamily("callbridge_asyncio_tasks", "asyncio tasks alive",
                                value=len(asyncio.all_tasks()))
        yield GaugeMetricFamily("callbridge_threads", "threads alive",
                                value=threading.active_count())


def build_registry(readings: Readings) -> tuple[CollectorRegistry, HttpMetrics, LoopLag]:
    registry = CollectorRegistry(auto_describe=True)
    http = HttpMetrics(registry)
    registry.register(ServiceCollector(readings))
    return registry, http, LoopLag(registry)
