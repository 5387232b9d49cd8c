"""/v1/buffers/{session_id}: the caller's short-term buffer of a session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, status

from fleetmem.api.deps import CallerDep, IdempotencyKeyDep, ServiceDep
from fleetmem.api.problems import problem_responses
from fleetmem.api.responses import BufferItemsResponse, CountResponse
from fleetmem.api.route_table import RouteTable
from fleetmem.api.schemas import BufferAppendRequest, ConsolidateRequest
from fleetmem.memory.services import BufferItemView, ConsolidateResult

router = RouteTable(prefix="/v1/buffers", tags=["buffers"])

SessionId = Annotated[str, Path(min_length=1, max_length=200, examples=["s-1"],
                                description="The agent's session id.")]
_READ = problem_responses(400, 401, 403, 422, 429, 503)
_WRITE = problem_responses(400, 401, 403, 409, 413, 422, 429, 503)


@router.post("/{session_id}/items", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Append to a session buffer")
async def append(session_id: SessionId, body: BufferAppendRequest, service: ServiceDep,
                 caller: CallerDep, idempotency_key: IdempotencyKeyDep = None
                 ) -> BufferItemView:
    """Append one item (redacted) to your short-term buffer for the session; a full buffer
    is consolidated into long-term memory first, so nothing expires unseen."""
    return await service.buffer_append(caller, session_id, body.text, role=body.role,
                                       importance=body.importance, namespace=body.namespace,
                                       idempotency_key=idempotency_key)


@router.get("/{session_id}", responses=_READ, summary="Read a session buffer")
async def read(session_id: SessionId, service: ServiceDep, caller: CallerDep,
               limit: Annotated[int, Query(ge=1, description="Latest items to return (the "
                                           "service caps it at the buffer size).")] = 50
               ) -> BufferItemsResponse:
    """The latest `limit` items of your session buffer, oldest first."""
    items = await service.buffer_read(caller, session_id, limit)
    return BufferItemsResponse(items=items)


@router.delete("/{session_id}", responses=_WRITE, summary="Clear a session buffer")
async def clear(session_id: SessionId, service: ServiceDep, caller: CallerDep,
                idempotency_key: IdempotencyKeyDep = None) -> CountResponse:
    """Consolidate, then delete your session buffer; `count` is the items deleted."""
    count = await service.buffer_clear(caller, session_id, idempotency_key=idempotency_key)
    return CountResponse(count=count)


@router.post("/{session_id}/consolidate", responses=_WRITE,
             summary="Consolidate a session buffer")
async def consolidate(session_id: SessionId, service: ServiceDep, caller: CallerDep,
                      body: ConsolidateRequest | None = None,
                      idempotency_key: IdempotencyKeyDep = None) -> ConsolidateResult:
    """Promote the session's unconsolidated items into long-term memory (kind `episode`)."""
    req = body or ConsolidateRequest()
    return await service.consolidate(caller, session_id, min_importance=req.min_importance,
                                     idempotency_key=idempotency_key)
