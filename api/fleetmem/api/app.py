"""The FastAPI application of `fleetmem serve`: REST under /v1, MCP at /mcp, health.

`/docs` (Swagger UI) and `/redoc` load their scripts, styles and favicon from the service
itself (`fastapi-offline` ships them), so they work without internet access.

The lifespan owns the one MemoryService of the process and the background work (GC
scheduler, vault watcher, MCP session manager); which doors are installed and which
background work runs is written once, in `fleetmem.cli.composition`. Routes reach the
service through `fleetmem.api.deps`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from fleetmem.api.health import router as health_routes
from fleetmem.cli.composition import install_doors, run_background
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

DOCS_ASSETS = "/docs-assets"
"""Where the Swagger UI and Redoc scripts, styles and favicon are served from."""


def create_app(settings: Settings | None = None, service: MemoryService | None = None) -> FastAPI:
    """Build the app. With `service` given, the caller owns its start and close (tests)."""
    cfg = settings or Settings()
    owned = service is None
    svc = service or build_service(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warm: asyncio.Task[None] | None = None
        if owned:
            report = await svc.start()
            logger.info("service started on %s (repair: %s)", cfg.data_dir, report)
            # /readyz says 503 until the model is loaded; /healthz answers meanwhile.
            warm = asyncio.create_task(svc.warm_up(), name="fleetmem-warm-up")
        async with run_background(app, svc, cfg):
            yield
        if warm is not None:
            warm.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await warm
        if owned:
            await svc.close()

    # FastAPI's own /docs and /redoc pull Swagger UI and Redoc from a CDN (blank offline);
    # FastAPIOffline serves the same pages with the assets mounted from its package.
    app = FastAPIOffline(title="fleetmem", version="0.1.0", lifespan=lifespan,
                         description="Knowledge-graph memory for fleets of AI agents.",
                         static_url=DOCS_ASSETS)
    app.state.service = svc
    app.state.settings = cfg
    health_routes.install(app.router)
    # The app that owns its service is `fleetmem serve`: it answers sooner with the REST
    # routes agents use least built once it is ready (tests get every route at once).
    install_doors(app, svc, cfg, defer=owned)
    return app

