"""The REST door: /v1 routes, problem+json errors, body limits and /metrics.

`fleetmem.cli.composition` calls `register`, so `create_app` (and `fleetmem serve`) has it,
and runs `build_routes_later` among the served app's background work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from fleetmem.api import metrics, problems
from fleetmem.api.body_limit import BodyLimitMiddleware, Utf8UrlMiddleware
from fleetmem.api.disconnect import DisconnectGuard
from fleetmem.api.route_table import DeferredRoutes
from fleetmem.api.routes import buffers, graph, memories, namespaces, oversight, transfer
from fleetmem.api.trace_door import TraceDoorMiddleware
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

TAGS = [
    {"name": "memories", "description": "Long-term memories: write, recall, correct, forget."},
    {"name": "graph", "description": "Entities and relations (reference-server shapes)."},
    {"name": "buffers", "description": "Short-term session buffers and consolidation."},
    {"name": "namespaces", "description": "Namespaces and counts."},
    {"name": "oversight", "description": "The audit trail and conflicts between agents."},
    {"name": "operations", "description": "Health probes and metrics."},
]


ROUTES = (memories.router,)
"""The /v1 routes built before the app serves (each route file carries the full prefix,
so that a route's own `path` is its full template: the request metrics label requests
with it)."""
LATER = (transfer.router, graph.router, buffers.router, namespaces.router, oversight.router)
"""The rest of /v1, after `ROUTES` in this order: with `defer`, built once the service is
ready (see `DeferredRoutes`; about 0.2 s of a start otherwise)."""


def register(app: FastAPI, service: MemoryService, settings: Settings, *,
             defer: bool = False) -> None:
    """Add the REST API to the app (called once by `create_app`); with `defer`, the
    `LATER` routes are built after the app is ready (`fleetmem serve`)."""
    problems.install(app)
    app.add_middleware(DisconnectGuard)  # innermost: the outer ones see a 499
    # Added last = outermost: the metrics also count requests refused for their size.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes,
                       exempt=("/v1/import",))
    app.add_middleware(Utf8UrlMiddleware)
    app.add_middleware(TraceDoorMiddleware)
    metrics.install(app)
    # Built on the app's own router: once (see route_table.py).
    for table in ROUTES:
        table.install(app.router)
    if defer:
        app.state.deferred_routes = DeferredRoutes(app, LATER)
    else:
        for table in LATER:
            table.install(app.router)
    app.openapi_tags = [*(app.openapi_tags or []), *TAGS]


@contextlib.asynccontextmanager
async def build_routes_later(app: Any, service: MemoryService,
                             settings: Settings) -> AsyncIterator[None]:
    """The served app's background work: build the deferred routes once ready."""
    deferred: DeferredRoutes | None = getattr(app.state, "deferred_routes", None)
    if deferred is None:
        yield
        return
    task = asyncio.create_task(deferred.build_later(service), name="fleetmem-routes")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
