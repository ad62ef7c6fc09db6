"""The HTTP series of /metrics, observed by the middleware's access line for every request.

Here, beside the middleware, rather than in system/: what every route shares sits on the ground
floor, and the system room (which builds the registry) imports it from here.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter("callbridge_http_requests", "HTTP requests answered",
                                ("route", "method", "status"), registry=registry)
        self.latency = Histogram("callbridge_http_request_duration_seconds",
                                 "HTTP request latency", ("route",), registry=registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        # labels() takes a lock and builds a key per call; the children are looked up once per
        # (route, method, status) instead: a bounded set, since routes are templates
        self._children: dict[tuple[str | None, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str | None, method: str, status: int, seconds: float) -> None:
        children = self._children.get((route, method, status))
        if children is None:
            label = route or "unmatched"  # a 404's path is the client's text: never a label
            children = (self.requests.labels(label, method, str(status)),
                        self.latency.labels(label))
            if len(self._children) < 4096:  # a client's made-up methods aren't kept
                self._children[(route, method, status)] = children
        children[0].inc()
        children[1].observe(seconds)
