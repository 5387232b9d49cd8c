"""The operator metrics port: `GET /metrics` on 127.0.0.1:<metrics.operator_port>.

Off unless `metrics.operator_port` is set. It answers only on the loopback interface and
asks for no key: reaching it means running on the host, like the CLI. With
`metrics.detail` on it shows the per-namespace and per-agent series
(`operator.local_metrics`), so a Prometheus (or an agent) on the same host scrapes them
without an admin key travelling over the network. `fleetmem serve` runs it for the app's
lifetime as background work (`fleetmem.cli.composition`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry

from fleetmem.api.metrics import base_registry, render
from fleetmem.api.side_server import side_server
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_START_SECONDS = 10.0


def operator_app(service: MemoryService, registry: CollectorRegistry) -> FastAPI:
    """The port's app: `/metrics` only (no docs, no other route)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Every series of the main app, with detail when `metrics.detail` is on."""
        return render(registry, await service.operator.local_metrics())

    return app


def _bind(port: int) -> socket.socket:
    """Bind the loopback socket here, so a taken port fails the start with its reason."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"metrics.operator_port: cannot listen on {LOOPBACK}:{port} "
                           f"({exc.strerror}); choose a free port or unset "
                           "FLEETMEM_METRICS__OPERATOR_PORT") from exc
    return sock


@contextlib.asynccontextmanager
async def operator_metrics_port(app: FastAPI, service: MemoryService,
                                settings: Settings) -> AsyncIterator[None]:
    """Serve the operator port for the app's lifetime (nothing when it is not set)."""
    port = settings.metrics.operator_port
    if port is None:
        yield
        return

    registry = getattr(app.state, "metrics_registry", None) or base_registry()
    sock = _bind(port)
    async with side_server(operator_app(service, registry), sock, "operator-port"):
        logger.info("operator metrics on http://%s:%d/metrics (detail %s)", LOOPBACK, port,
                    "on" if settings.metrics.detail else "off")
        yield
