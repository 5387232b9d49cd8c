"""The REST door: /v1 routes, problem+json errors, body limits and /metrics.

`fleetmem.cli.composition` calls `register`, so `create_app` (and `fleetmem serve`) has it.
"""

from __future__ import annotations

from fastapi import FastAPI

from fleetmem.api import metrics, problems
from fleetmem.api.body_limit import BodyLimitMiddleware, Utf8UrlMiddleware
from fleetmem.api.disconnect import DisconnectGuard
from fleetmem.api.routes import buffers, graph, memories, namespaces, oversight
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


ROUTES = (memories.router, graph.router, buffers.router, namespaces.router, oversight.router)
"""Every /v1 route, in this order (each route file carries the full prefix, so that a
route's own `path` is its full template: the request metrics label requests with it)."""


def register(app: FastAPI, service: MemoryService, settings: Settings) -> None:
    """Add the REST API to the app (called once by `create_app`)."""
    problems.install(app)
    app.add_middleware(DisconnectGuard)  # innermost: the outer ones see a 499
    # Added last = outermost: the metrics also count requests refused for their size.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(Utf8UrlMiddleware)
    app.add_middleware(TraceDoorMiddleware)
    metrics.install(app)
    # Built on the app's own router: once, before serving (see route_table.py).
    for table in ROUTES:
        table.install(app.router)
    app.openapi_tags = [*(app.openapi_tags or []), *TAGS]
