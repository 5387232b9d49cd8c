"""Prometheus metrics at /metrics: requests by route, method and status, their latencies,
store timings, GC runs, and store counts and usage from the service.

No series names a namespace or an agent unless the operator turned `metrics.detail` on
and the scrape is an operator's: a scrape without a key gets the aggregate families, one
with a key must be an admin agent's (the service decides: `operator.public_metrics`,
`operator.operator_metrics`). The loopback operator port (`fleetmem.api.operator_port`)
renders the same registry with `operator.local_metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetmem.api.deps import bearer, get_caller
from fleetmem.api.problems import problem_responses
from fleetmem.gc import metrics as gc_metrics
from fleetmem.memory.services import MemoryService, MetricFamily, store_timing
from fleetmem.vault import metrics as vault_metrics

_UNMATCHED = "unmatched"


class RequestMetrics:
    """The request counters of one app (a registry per app keeps test apps apart). Labels
    are the route template, the method and the status: never who called."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("fleetmem_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("fleetmem_http_request_duration_seconds",
                                 "HTTP request latency by route",
                                 ["method", "route"], registry=registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                          10))


class MetricsMiddleware:
    """ASGI middleware timing each request by route template (bounded: templates come from
    the code, not from input; unknown paths count as `unmatched`)."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", None) or _UNMATCHED
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


class _Families(Collector):
    """The service's families of one scrape (a fresh collector per scrape: a public and an
    operator scrape running at once never see each other's)."""

    def __init__(self, families: Sequence[MetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for fam in self.families:
            cls = CounterMetricFamily if fam.kind == "counter" else GaugeMetricFamily
            metric = cls(fam.name, fam.help, labels=list(fam.labels))
            for values, value in fam.samples:
                metric.add_metric(list(values), value)
            yield metric


def base_registry() -> CollectorRegistry:
    """The in-process series every scrape shows: GC runs and store timings (plus the
    request metrics `install` adds); none of them carries a namespace or an agent."""
    registry = CollectorRegistry()
    registry.register(gc_metrics.REGISTRY)
    registry.register(store_timing.REGISTRY)
    registry.register(vault_metrics.REGISTRY)
    return registry


def render(registry: CollectorRegistry, families: Sequence[MetricFamily]) -> Response:
    """The exposition of `registry` followed by this scrape's service families."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Families(families))
    return Response(generate_latest(registry) + generate_latest(scrape),
                    media_type=CONTENT_TYPE_LATEST)


_EXAMPLE = ('# TYPE fleetmem_memories gauge\n'
            'fleetmem_memories{status="active"} 42.0\n')


def install(app: FastAPI) -> None:
    """Add the request middleware and the /metrics endpoint to `app`; the registry is
    kept on `app.state.metrics_registry` for the operator port."""
    registry = base_registry()
    app.add_middleware(MetricsMiddleware, metrics=RequestMetrics(registry))
    app.state.metrics_registry = registry

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response,
             # the key is optional: `{}` next to the bearer scheme says so
             openapi_extra={"security": [{}]},
             responses={200: {"content": {"text/plain": {"example": _EXAMPLE}},
                              "description": "Prometheus text exposition format."},
                        **problem_responses(401, 403, 429)})
    async def metrics(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Response:
        """Aggregate series for anyone: requests by route, method and status; memories by
        status; entities, relations, buffer items, usage, store and GC timings summed over
        every namespace and agent. With a key, the key must be an admin agent's (401/403
        otherwise); with `FLEETMEM_METRICS__DETAIL=true` that scrape also gets
        `fleetmem_namespace_*{namespace}` and `fleetmem_agent_*{agent}`."""
        service: MemoryService = request.app.state.service
        if credentials is None and not request.headers.get("authorization"):
            return render(registry, await service.operator.public_metrics())
        caller = await get_caller(request, service, credentials)
        return render(registry, await service.operator.operator_metrics(caller))
