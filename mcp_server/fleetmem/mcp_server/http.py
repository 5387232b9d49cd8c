"""MCP over streamable HTTP at /mcp inside `fleetmem serve`, next to REST.

`build_mcp` builds the MCP app (bearer agent keys via the SDK's token verifier when an
agents file is configured) with the session gate in front of its session manager;
`serve_sessions` runs that manager and the idle sweep (a mounted sub-app's own lifespan
never runs). Imported by deferred.py in a worker thread while the service starts, since
this module imports the MCP SDK.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import Scope

from fleetmem.api.owner import ServeInfo
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


def build_mcp(service: MemoryService, settings: Settings
              ) -> tuple[MCPServer[Any], Starlette, SessionGate]:
    """The MCP server over `service`, its app (serving /mcp and, with agent keys, its
    auth metadata, on the full path) and the session gate in front of its manager."""
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
    answer_sessions_in_json(server.session_manager)
    return server, mcp_app, gate_sessions(server.session_manager, identity, settings)


def answer_sessions_in_json(manager: Any) -> None:
    """Answer every request of a 2025-era session with one JSON body instead of an SSE
    stream. Clients read an SSE answer only up to its result, which ends the keep-alive
    connection, so the stdio shim opened a new TCP connection for every call. Nothing is
    lost: no tool sends progress, log or sampling messages while it runs. 2026-era
    requests keep the SDK's default (already one JSON body for a prompt answer, SSE pings
    and cancellation when the client leaves during a long call)."""
    admit = manager._admit_session  # noqa: SLF001 - the SDK sets the mode per session here

    def admitting(requestor: Any) -> Any:
        transport = admit(requestor)
        if transport is not None:
            transport.is_json_response_enabled = True
        return transport

    manager._admit_session = admitting  # noqa: SLF001


def gate_sessions(manager: Any, identity: Identity, settings: Settings) -> SessionGate:
    """Put a `SessionGate` in front of the SDK session manager's ASGI app (the public
    attribute its `/mcp` endpoint calls on every request) and return it."""
    ledger = SessionLedger(settings.mcp.sessions_per_agent, settings.mcp.max_sessions,
                           settings.mcp.session_idle_seconds, settings.mcp.sessions_per_minute)

    def owner(scope: Scope) -> str:
        user = scope.get("user")
        key_agent = user.access_token.client_id if isinstance(user, AuthenticatedUser) else None
        return identity.session_owner(Headers(scope=scope), key_agent)

    gate = SessionGate(manager.asgi_app, ledger, owner)
    manager.asgi_app = gate
    return gate


@asynccontextmanager
async def serve_sessions(server: MCPServer[Any], gate: SessionGate) -> AsyncIterator[None]:
    """Run the MCP session manager, and the sweep of idle sessions, while in the block."""
    async with server.session_manager.run(), anyio.create_task_group() as tg:
        tg.start_soon(gate.sweep)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
