"""The operator metrics port: `GET /metrics` on 127.0.0.1:<metrics.operator_port>.

Off unless `metrics.operator_port` is set. It answers only on the loopback interface and
asks for no key: reaching it means running on the host, like the CLI. With
`metrics.detail` on it shows the per-namespace and per-agent series
(`operator.local_metrics`), so a Prometheus (or an agent) on the same host scrapes them
without an admin key travelling over the network. `fleetmem serve` runs it for the app's
lifetime as background work (`fleetmem.cli.composition`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry

from fleetmem.api.metrics import base_registry, render
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
    import uvicorn

    port = settings.metrics.operator_port
    if port is None:
        yield
        return

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # the main server handles signals and ends this one via the lifespan

    registry = getattr(app.state, "metrics_registry", None) or base_registry()
    sock = _bind(port)
    # No log_config/log_level/access_log=False: uvicorn would reconfigure the main server's
    # loggers (access_log=False empties uvicorn.access for every server in the process).
    server = _Server(uvicorn.Config(operator_app(service, registry), lifespan="off",
                                    log_config=None, log_level=None))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="fleetmem-operator-port")
    try:
        async with asyncio.timeout(_START_SECONDS):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        logger.info("operator metrics on http://%s:%d/metrics (detail %s)", LOOPBACK, port,
                    "on" if settings.metrics.detail else "off")
        yield
    finally:
        server.should_exit = True
        try:
            await task
        except Exception:
            logger.exception("the operator metrics port stopped with an error")
        sock.close()
