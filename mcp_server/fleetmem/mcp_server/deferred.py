"""MCP over HTTP inside `fleetmem serve`, loaded while the service starts.

Importing the MCP SDK costs about a second (its pydantic models of two protocol versions),
more than the rest of what `serve` imports before it can answer. So `mount_deferred`
routes `/mcp` and its auth metadata at once to a `DeferredMcp`, which imports nothing of
the SDK; `run_mcp`, the door's background work, imports the SDK in a worker thread once
the service has warmed up (model loaded: the import would slow that down, both need the
interpreter), builds the MCP app and starts its session manager on the event loop
(http.py), then the routes forward to it: about a second after /readyz first says ready.

A request that arrives before that waits for it (at most `WAIT_SECONDS`), so a client
never sees the difference but a short delay; if loading failed it gets 503 naming the
error. `/readyz` reports the door as `mcp: starting|ready|failed` (see health.py for what
ready means). `announce` writes `<data_dir>/serve.json` so that `fleetmem mcp` shims
find the service. `fleetmem.cli.composition` calls all three.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetmem.api.owner import ServeInfo, remove_state, write_state
from fleetmem.mcp_server.rpc_errors import send_rpc_error
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

PATHS = ("/mcp", "/.well-known/oauth-protected-resource/mcp")
"""What the MCP app serves: the streamable HTTP endpoint and, with agent keys, its
protected-resource metadata (RFC 9728). A route the SDK adds beyond these is mounted
when the app is built (not held while it loads)."""
WAIT_SECONDS = 60.0
"""How long a request that arrives while the MCP app loads waits for it."""


class DeferredMcp:
    """The ASGI endpoint of the MCP routes: forwards to the MCP app once it is built."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None
        self._error: str | None = None
        self._settled: asyncio.Event | None = None  # made on the event loop, when needed

    @property
    def status(self) -> str:
        """`starting`, `ready` or `failed`."""
        return "ready" if self._app is not None else "failed" if self._error else "starting"

    def _event(self) -> asyncio.Event:
        if self._settled is None:
            self._settled = asyncio.Event()
        return self._settled

    def ready(self, app: ASGIApp) -> None:
        """The MCP app serves from now on (called on the event loop)."""
        self._app = app
        self._event().set()

    def failed(self, reason: str) -> None:
        """The MCP app will not come (called on the event loop)."""
        if self._app is None:
            self._error = reason
            self._event().set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request to an MCP route, waiting for the app while it loads."""
        if self._app is None and self._error is None:
            with anyio.move_on_after(WAIT_SECONDS):
                await self._event().wait()
        if self._app is not None:
            await self._app(scope, receive, send)
            return
        reason = self._error or f"the MCP door did not load within {WAIT_SECONDS:.0f} s"
        await send_rpc_error(send, 503, -32603, f"MCP is unavailable: {reason}; REST (/v1) "
                             "still serves, see the service log", retry_after=5)


def mount_deferred(app: Any) -> None:
    """Route the MCP paths of the served app to a new `DeferredMcp` (`app.state.mcp_door`,
    whose status /readyz reports through `app.state.mcp_status`)."""
    door = DeferredMcp()
    app.state.mcp_door = door
    app.state.mcp_status = lambda: door.status
    for path in PATHS:
        app.router.routes.append(Route(path, endpoint=door, include_in_schema=False))


def _import_sdk() -> None:
    importlib.import_module("fleetmem.mcp_server.http")


@asynccontextmanager
async def run_mcp(app: Any, service: MemoryService, settings: Settings) -> AsyncIterator[None]:
    """Load the MCP door in the background and run it for the app's lifetime."""
    door: DeferredMcp = app.state.mcp_door
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_serve, door, app, service, settings, stop)
        try:
            yield
        finally:
            stop.set()
            door.failed("the service is stopping")


async def _serve(door: DeferredMcp, app: Any, service: MemoryService, settings: Settings,
                 stop: anyio.Event) -> None:
    await service.warmed()  # readiness first: the import would compete with the warm-up
    try:
        await anyio.to_thread.run_sync(_import_sdk)
        from fleetmem.mcp_server.http import build_mcp, serve_sessions

        server, mcp_app, gate = build_mcp(service, settings)
    except Exception as exc:  # noqa: BLE001 - REST keeps serving; /readyz and /mcp say it
        logger.exception("the MCP door did not load")
        door.failed(f"{type(exc).__name__}: {exc}")
        return
    app.state.mcp_server = server
    app.state.mcp_sessions = gate
    for route in mcp_app.routes:
        path = getattr(route, "path", None)
        if path and path not in PATHS:
            app.router.routes.append(Route(path, endpoint=mcp_app, include_in_schema=False))
    async with serve_sessions(server, gate):
        if not stop.is_set():
            door.ready(mcp_app)
            logger.info("MCP door ready at /mcp")
        await stop.wait()


@asynccontextmanager
async def announce(app: Any, service: MemoryService, settings: Settings) -> AsyncIterator[None]:
    """Write `<data_dir>/serve.json` while the service runs, so stdio shims and the CLI
    find it (with the local socket, when `fleetmem.api.local_door` runs one)."""
    data_dir, pid = Path(settings.data_dir), os.getpid()
    write_state(data_dir, ServeInfo(pid, settings.host, settings.port,
                                    getattr(app.state, "local_socket", None)))
    try:
        yield
    finally:
        remove_state(data_dir, pid)
