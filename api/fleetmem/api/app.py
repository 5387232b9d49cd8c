"""The FastAPI application of `fleetmem serve`: REST under /v1, MCP at /mcp, health.

The lifespan owns the one MemoryService of the process and the background work (GC
scheduler, vault watcher, MCP session manager); routes reach the service through
`fleetmem.api.deps`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI

from fleetmem.api.health import router as health_router
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

if TYPE_CHECKING:
    from fleetmem.api.extensions import Background, Extension

logger = logging.getLogger(__name__)


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
        async with contextlib.AsyncExitStack() as stack:
            for hook in background_hooks():
                await stack.enter_async_context(hook(app, svc, cfg))
            yield
        if warm is not None:
            warm.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await warm
        if owned:
            await svc.close()

    app = FastAPI(title="fleetmem", version="0.1.0", lifespan=lifespan,
                  description="Knowledge-graph memory for fleets of AI agents.")
    app.state.service = svc
    app.state.settings = cfg
    app.include_router(health_router)
    for extend in app_extensions():
        extend(app, svc, cfg)
    return app


def app_extensions() -> list[Extension]:
    """Routers and mounts contributed by the doors (REST v1, MCP over HTTP)."""
    from fleetmem.api.extensions import EXTENSIONS

    return list(EXTENSIONS)


def background_hooks() -> list[Background]:
    """Background work run for the app's lifetime (MCP sessions, GC scheduler, vault watch)."""
    from fleetmem.api.extensions import BACKGROUND

    return list(BACKGROUND)
