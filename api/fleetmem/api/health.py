"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from fleetmem.api.route_table import RouteTable
from fleetmem.memory.errors import StorageUnavailable
from fleetmem.memory.services import MemoryService

router = RouteTable(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always ok while the process runs."""
    return {"status": "ok"}


def _agents_file(service: MemoryService) -> dict[str, object] | None:
    """The agents file version in force (a hash prefix and times; names nobody)."""
    version = service.policy_version()
    if version is None:
        return None
    return {"sha256": version.sha256, "loaded_at": version.loaded_at.isoformat(),
            "reload_failed": version.reload_failed,
            "failed_at": version.failed_at.isoformat() if version.failed_at else None}


@router.get("/readyz", summary="Readiness: every store answers")
async def readyz(request: Request) -> JSONResponse:
    """503 with the failing store when a store cannot answer; both answers say which
    agents file version is in force (`agents_file`, null without one). A failed reload
    does not make the service unready: the last good version stays in force. With a vault
    watcher running, `vault` says `{status: syncing|starting|degraded, since, reason}`; a
    degraded vault does not make the service unready (every other door still serves).
    `mcp` says `starting|ready|failed`: the MCP door loads once the service is ready
    (about a second later; requests to /mcp wait for it meanwhile), so it is reported,
    not waited for: ready means REST serves and the model is loaded."""
    service: MemoryService = request.app.state.service
    agents = _agents_file(service)
    extra: dict[str, object] = {}
    vault = getattr(request.app.state, "vault_status", None)
    if callable(vault):  # set by the vault watcher; a degraded vault keeps the service ready
        extra["vault"] = vault()
    mcp = getattr(request.app.state, "mcp_status", None)
    if callable(mcp):  # set by the MCP door
        extra["mcp"] = mcp()
    try:
        await service.ready()
    except StorageUnavailable as exc:
        return JSONResponse({"status": "unavailable", "detail": exc.message,
                             "agents_file": agents, **extra}, status_code=503)
    return JSONResponse({"status": "ready", "agents_file": agents, **extra})
