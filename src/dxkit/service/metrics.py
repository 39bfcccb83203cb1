"""Prometheus metrics: requests, latency, predictions by condition, abstentions.

Why one registry per app and not prometheus_client's global one: two apps in one process
(tests, or a future admin app) would otherwise share and double-count series, and
creating the same metric twice in the global registry is an error. Routes are labelled
by their template (``/v1/cases/{id}``), never by the raw path, so identifiers never
become label values and the number of series stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dxkit.report.differential import Differential
from dxkit.service.errors import route_template

# Seconds; dense below 100 ms, where the diagnosis target lies.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


_KNOWN_METHODS = frozenset(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])


class ServiceMetrics:
    """The service's metric families, registered in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dxkit_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dxkit_http_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "dxkit_predictions",
            "Differentials returned, by their top condition's label.",
            ["condition"],
            registry=self.registry,
        )
        self.abstentions = Counter(
            "dxkit_abstentions",
            "Differentials in which the model abstained (referred to a clinician).",
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in _KNOWN_METHODS:
            method = "OTHER"  # clients choose methods: unbounded labels would grow forever
        """Count one answered request and its latency."""
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_answers(self, answers: Sequence[Differential]) -> None:
        """Count the top condition of each answer, and each abstention.

        The abstention rate is ``dxkit_abstentions_total / sum(dxkit_predictions_total)``.
        """
        for answer in answers:
            if answer.conditions:
                self.predictions.labels(condition=answer.top.label or answer.top.name).inc()
            if answer.abstain:
                self.abstentions.inc()

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template, method and status."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app fails before answering, the server answers 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.observe_request(
                route_template(scope),
                str(scope.get("method", "?")),
                status,
                time.perf_counter() - start,
            )
