"""/v1/namespaces and /v1/stats: what the caller can see."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from fleetmem.api.deps import CallerDep, ServiceDep
from fleetmem.api.problems import problem_responses
from fleetmem.api.responses import NamespacesResponse
from fleetmem.api.route_table import RouteTable
from fleetmem.api.schemas import NAMESPACE_PATTERN
from fleetmem.memory.services import NamespaceSummaryView, StatsView

router = RouteTable(prefix="/v1", tags=["namespaces"])

_READ = problem_responses(400, 401, 403, 422, 429, 503)
_ATLAS = {"namespace": "team:atlas", "access": "read-write", "memories": {"active": 42},
          "entities": 7, "relations": 5, "buffer_items": 0,
          "members": ["alice", "bob", "human:dana"]}


def _example(value: object) -> dict[int | str, dict[str, object]]:
    return {200: {"content": {"application/json": {"example": value}}}}


@router.get("/namespaces", summary="List your namespaces",
            responses={**_READ, **_example({"items": [_ATLAS], "next_cursor": None})})
async def list_namespaces(service: ServiceDep, caller: CallerDep) -> NamespacesResponse:
    """Every namespace you can see, with your access, counts and team members."""
    return NamespacesResponse(items=await service.list_namespaces(caller))


@router.get("/namespaces/{namespace}", responses=_READ, summary="Summarise one namespace")
async def namespace_summary(
        namespace: Annotated[str, Path(pattern=NAMESPACE_PATTERN, examples=["team:atlas"])],
        service: ServiceDep, caller: CallerDep) -> NamespaceSummaryView:
    """Counts, access, members and the first entities of one readable namespace."""
    return await service.namespace_summary(caller, namespace)


@router.get("/stats", responses={**_READ, **_example({
    "agent_id": "alice", "namespaces": [_ATLAS], "total_memories": 42,
    "embedding_model": "all-MiniLM-L6-v2"})}, summary="Counts over your namespaces")
async def stats(service: ServiceDep, caller: CallerDep) -> StatsView:
    """Memory, entity and buffer counts over the namespaces you can read."""
    return await service.stats(caller)
