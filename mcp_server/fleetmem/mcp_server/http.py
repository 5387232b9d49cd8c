"""MCP over streamable HTTP at /mcp inside `fleetmem serve`, next to REST.

`mount_mcp` mounts the MCP app (bearer agent keys via the SDK's token verifier when an
agents file is configured); `run_sessions` runs its session manager for the app's lifetime
(a mounted sub-app's own lifespan never runs); `announce` writes `<data_dir>/serve.json`
so that `fleetmem mcp` shims find it. `fleetmem.cli.composition` calls all three.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Scope

from fleetmem.api.owner import ServeInfo, remove_state, write_state
from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from fleetmem.mcp_server.session_gate import SessionGate
from fleetmem.mcp_server.session_policy import SessionLedger
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def transport_security(settings: Settings) -> TransportSecuritySettings | None:
    """Host-header guard: loopback only on a loopback bind (the SDK default), else the
    configured hosts; a public bind without `mcp.allowed_hosts` accepts any host."""
    if settings.host in _LOOPBACK:
        return None
    hosts = settings.mcp.allowed_hosts
    if not hosts:
        logger.warning("MCP on %s accepts any Host header; set FLEETMEM_MCP__ALLOWED_HOSTS "
                       "to restrict it", settings.host)
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=_LOOPBACK_HOSTS + hosts,
                                     allowed_origins=_LOOPBACK_ORIGINS + origins)


def mount_mcp(app: Any, service: MemoryService, settings: Settings) -> None:
    """Build the MCP server over `service` and route /mcp (and its auth metadata) to it."""
    open_access = service.open_access_agent is not None
    identity = Identity(default_agent=service.open_access_agent or settings.default_agent,
                        trust_agent_header=open_access, authenticate=service.authenticate)
    base = ServeInfo(os.getpid(), settings.host, settings.port).base_url
    server = build_server(service, identity, auth_url=None if open_access else base)
    caps = settings.mcp
    # Our gate decides on sessions (caps, eviction, idle sweep); the SDK's own cap stays as
    # a backstop above ours and its idle timer is off, so the policy lives in one place.
    mcp_app = server.streamable_http_app(streamable_http_path="/mcp", host=settings.host,
                                         transport_security=transport_security(settings),
                                         session_idle_timeout=None,
                                         max_sessions=caps.max_sessions + caps.sessions_per_agent)
    app.state.mcp_server = server
    app.state.mcp_sessions = gate_sessions(server.session_manager, identity, settings)
    # The sub-app keeps its own middleware (bearer auth); it routes on the full path.
    for route in mcp_app.routes:
        path = getattr(route, "path", None)
        if path:
            app.router.routes.append(Route(path, endpoint=mcp_app, include_in_schema=False))


def gate_sessions(manager: Any, identity: Identity, settings: Settings) -> SessionGate:
    """Put a `SessionGate` in front of the SDK session manager's ASGI app (the public
    attribute its `/mcp` endpoint calls on every request) and return it."""
    ledger = SessionLedger(settings.mcp.sessions_per_agent, settings.mcp.max_sessions,
                           settings.mcp.session_idle_seconds)

    def owner(scope: Scope) -> str:
        user = scope.get("user")
        key_agent = user.access_token.client_id if isinstance(user, AuthenticatedUser) else None
        return identity.session_owner(Headers(scope=scope), key_agent)

    gate = SessionGate(manager.asgi_app, ledger, owner)
    manager.asgi_app = gate
    return gate


@asynccontextmanager
async def run_sessions(app: Any, service: MemoryService, settings: Settings) -> AsyncIterator[None]:
    """Run the MCP session manager, and the sweep of idle sessions, for the app's lifetime."""
    async with app.state.mcp_server.session_manager.run(), anyio.create_task_group() as tg:
        tg.start_soon(app.state.mcp_sessions.sweep)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()


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
