"""The HTTP series of /metrics, observed by the middleware's access line for every request.

Here, beside the middleware, rather than in system/: what every route shares sits on the ground
floor, and the system room (which builds the registry) imports it from here.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter("callbridge_http_requests", "HTTP requests answered",
                                ("route", "method", "status"), registry=registry)
        self.latency = Histogram("callbridge_http_request_duration_seconds",
                                 "HTTP request latency", ("route",), registry=registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))

    def observe(self, route: str | None, method: str, status: int, seconds: float) -> None:
        route = route or "unmatched"  # a 404's path is the client's text: never a label
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
