"""Prometheus metrics at /metrics: requests by route and agent, their latencies, and
memory counts by namespace (read from the service when scraped)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
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

from fleetmem.gc import metrics as gc_metrics
from fleetmem.memory.services import (
    MemoryService,
    MetricFamily,
    NamespaceStats,
    store_timing,
    usage_metric_families,
)

_UNMATCHED = "unmatched"
_ANONYMOUS = "anonymous"


class RequestMetrics:
    """The request counters of one app (a registry per app keeps test apps apart)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("fleetmem_http_requests", "HTTP requests by route and agent",
                                ["method", "route", "status", "agent"], registry=registry)
        self.latency = Histogram("fleetmem_http_request_duration_seconds",
                                 "HTTP request latency by route and agent",
                                 ["method", "route", "agent"], registry=registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                          10))


class MetricsMiddleware:
    """ASGI middleware timing each request; labels are the route template and the agent
    the request authenticated as (bounded: both come from configuration, not input)."""

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
            agent = str((scope.get("state") or {}).get("agent_id", _ANONYMOUS))
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status), agent).inc()
            self.metrics.latency.labels(method, route, agent).observe(
                time.perf_counter() - started)


class MemoryCountCollector(Collector):
    """Memory, entity and buffer counts per namespace, from the last refresh."""

    def __init__(self) -> None:
        self.snapshot: list[NamespaceStats] = []

    def collect(self) -> Iterator[Metric]:
        memories = GaugeMetricFamily("fleetmem_memories", "Memories by namespace and status",
                                     labels=["namespace", "status"])
        entities = GaugeMetricFamily("fleetmem_entities", "Entities by namespace",
                                     labels=["namespace"])
        relations = GaugeMetricFamily("fleetmem_relations", "Relations by namespace",
                                      labels=["namespace"])
        buffers = GaugeMetricFamily("fleetmem_buffer_items", "Short-term buffer items by "
                                    "namespace", labels=["namespace"])
        for s in self.snapshot:
            for status, n in sorted(s.memories_by_status.items()):
                memories.add_metric([s.namespace, status], n)
            entities.add_metric([s.namespace], s.entities)
            relations.add_metric([s.namespace], s.relations)
            buffers.add_metric([s.namespace], s.buffer_items)
        yield from (memories, entities, relations, buffers)


class UsageCollector(Collector):
    """Per-agent usage (writes, reads, stored bytes, embedding calls) from the last refresh."""

    def __init__(self) -> None:
        self.snapshot: list[MetricFamily] = []

    def collect(self) -> Iterator[Metric]:
        for fam in self.snapshot:
            cls = CounterMetricFamily if fam.kind == "counter" else GaugeMetricFamily
            metric = cls(fam.name, fam.help, labels=["agent"])
            for agent, value in fam.samples:
                metric.add_metric([agent], value)
            yield metric


def install(app: FastAPI) -> None:
    """Add the request middleware and the /metrics endpoint to `app`."""
    registry = CollectorRegistry()
    counts = MemoryCountCollector()
    usage = UsageCollector()
    registry.register(counts)
    registry.register(usage)
    registry.register(gc_metrics.REGISTRY)
    registry.register(store_timing.REGISTRY)
    app.add_middleware(MetricsMiddleware, metrics=RequestMetrics(registry))

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response,
             responses={200: {"content": {"text/plain": {"example": (
                 '# TYPE fleetmem_memories gauge\n'
                 'fleetmem_memories{namespace="team:atlas",status="active"} 42.0\n')}},
                 "description": "Prometheus text exposition format."}})
    async def metrics(request: Request) -> Response:
        """Request counts and latencies by route and agent; memory counts by namespace."""
        service: MemoryService = request.app.state.service
        counts.snapshot = await service.operator.memory_counts()
        usage.snapshot = usage_metric_families(await service.operator.usage_report())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
