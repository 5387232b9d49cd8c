"""/v1/memories: remember (single, batch), get, recall, correct, forget, restore, history,
share. Each route parses, makes one service call and returns the service's view."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Path, Query, Response, status

from fleetmem.api.deps import CallerDep, IdempotencyKeyDep, ServiceDep
from fleetmem.api.problems import problem_responses
from fleetmem.api.responses import MemoriesResponse, MemoryHistoryResponse
from fleetmem.api.route_table import RouteTable
from fleetmem.api.schemas import (
    CorrectRequest,
    RecallRequest,
    RememberBatchRequest,
    RememberRequest,
    ShareRequest,
)
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services import (
    MemoryView,
    RecallQuery,
    RecallResult,
    RememberBatchResult,
    RememberResult,
)

router = RouteTable(prefix="/v1/memories", tags=["memories"])

MemoryId = Annotated[str, Path(description="A memory id (UUID) as returned by remember.",
                               examples=["3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10"])]
_READ = problem_responses(400, 401, 403, 404, 422, 429, 503)
_WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


@router.post("", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Remember one memory")
async def remember(body: RememberRequest, response: Response, service: ServiceDep,
                   caller: CallerDep, idempotency_key: IdempotencyKeyDep = None
                   ) -> RememberResult:
    """Write one memory (redacted, deduplicated, attributed); `deduplicated` tells whether an
    existing near-identical memory was reinforced instead."""
    result = await service.remember(caller, body.to_input(), idempotency_key=idempotency_key)
    response.headers["Location"] = f"/v1/memories/{result.id}"
    return result


@router.post("/batch", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Remember several memories")
async def remember_batch(body: RememberBatchRequest, service: ServiceDep, caller: CallerDep,
                         idempotency_key: IdempotencyKeyDep = None) -> RememberBatchResult:
    """Write a batch; all are validated before any is written; results in input order."""
    return RememberBatchResult(results=await service.remember_batch(
        caller, [m.to_input() for m in body.memories], idempotency_key=idempotency_key))


@router.get("", responses=_READ, summary="List memories, one page at a time")
async def list_memories(
        service: ServiceDep, caller: CallerDep,
        namespaces: Annotated[list[str] | None, Query(
            description="Only these readable namespaces (repeat the parameter); default: all.",
            examples=[["team:atlas"]])] = None,
        cursor: Annotated[str | None, Query(
            max_length=64, description="`next_cursor` of the previous page.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        metadata: Annotated[str | None, Query(
            max_length=16_384, description="Only memories whose metadata holds every pair of "
            "this JSON object (string, integer or boolean values).",
            examples=['{"source_id": "T-42"}'])] = None) -> MemoriesResponse:
    """Active memories of the readable namespaces, ordered by id (an export, not a search:
    use recall to find memories by meaning)."""
    items = await service.list_memories(caller, namespaces, cursor, limit,
                                        metadata=_json_object(metadata, "metadata"))
    return MemoriesResponse(items=items,
                            next_cursor=items[-1].id if len(items) == limit else None)


def _json_object(text: str | None, name: str) -> dict[str, object] | None:
    """A query parameter holding a JSON object (the wire format; the service checks it)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a JSON object, e.g. {{\"source_id\": \"T-42\"}} "
                           "(URL-encoded)", field=name, rule="type")
    return value


@router.post("/recall", responses=_READ, summary="Recall (search) memories")
async def recall(body: RecallRequest, service: ServiceDep, caller: CallerDep) -> RecallResult:
    """Hybrid recall: the session's short-term buffer first, then long-term memories by
    meaning, keywords and graph expansion; every hit carries attribution and `why`."""
    return await service.recall(caller, RecallQuery(
        query=body.query, k=body.k, namespaces=body.namespaces, kinds=body.kinds,
        tags=body.tags, created_by=body.created_by, created_after=body.created_after,
        created_before=body.created_before, as_of=body.as_of, max_tokens=body.max_tokens,
        session_id=body.session_id, modes=frozenset(body.modes),
        include_archived=body.include_archived, metadata=body.metadata,
        neighbours=body.neighbours))


@router.get("/{memory_id}", responses=_READ, summary="Get one memory")
async def get_memory(memory_id: MemoryId, service: ServiceDep, caller: CallerDep) -> MemoryView:
    """One memory with its attribution; 404 also when it exists outside your namespaces."""
    return await service.get(caller, memory_id)


@router.get("/{memory_id}/history", responses=_READ, summary="Versions of a memory")
async def history(memory_id: MemoryId, service: ServiceDep,
                  caller: CallerDep) -> MemoryHistoryResponse:
    """The supersede chain of a memory, oldest first."""
    return MemoryHistoryResponse(items=await service.history(caller, memory_id))


@router.post("/{memory_id}/correct", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Correct a memory")
async def correct(memory_id: MemoryId, body: CorrectRequest, service: ServiceDep,
                  caller: CallerDep, idempotency_key: IdempotencyKeyDep = None) -> MemoryView:
    """Atomically supersede a memory with a corrected version (returned); the old one stays
    as history. 409 when the memory is no longer current."""
    return await service.correct(caller, memory_id, body.text, kind=body.kind,
                                 importance=body.importance, reason=body.reason,
                                 idempotency_key=idempotency_key)


@router.delete("/{memory_id}", responses=_WRITE, summary="Forget (archive) a memory")
async def forget(memory_id: MemoryId, service: ServiceDep, caller: CallerDep,
                 idempotency_key: IdempotencyKeyDep = None) -> MemoryView:
    """Archive a memory: out of recall, kept, restorable with `restore`."""
    return await service.forget(caller, memory_id, idempotency_key=idempotency_key)


@router.post("/{memory_id}/restore", responses=_WRITE, summary="Restore a forgotten memory")
async def restore(memory_id: MemoryId, service: ServiceDep, caller: CallerDep,
                  idempotency_key: IdempotencyKeyDep = None) -> MemoryView:
    """Bring an archived memory back (a version corrected before it was forgotten returns to
    its history as superseded, not to recall); 409 when it is not archived."""
    return await service.restore(caller, memory_id, idempotency_key=idempotency_key)


@router.post("/{memory_id}/share", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Share a memory into another namespace")
async def share(memory_id: MemoryId, body: ShareRequest, service: ServiceDep,
                caller: CallerDep, idempotency_key: IdempotencyKeyDep = None) -> RememberResult:
    """Copy a readable memory into a namespace you may write (e.g. your team's)."""
    return await service.share(caller, memory_id, body.namespace,
                               idempotency_key=idempotency_key)
