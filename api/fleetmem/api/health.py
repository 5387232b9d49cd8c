"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fleetmem.memory.errors import StorageUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always ok while the process runs."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: every store answers")
async def readyz(request: Request) -> JSONResponse:
    """503 with the failing store when a store cannot answer."""
    try:
        await request.app.state.service.ready()
    except StorageUnavailable as exc:
        return JSONResponse({"status": "unavailable", "detail": exc.message}, status_code=503)
    return JSONResponse({"status": "ready"})
