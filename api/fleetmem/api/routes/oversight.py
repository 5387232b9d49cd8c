"""/v1/audit/events, /v1/audit/verify|head (admin) and /v1/conflicts: what happened,
whether the record of it is intact, and facts agents disagree on."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query

from fleetmem.api.deps import CallerDep, IdempotencyKeyDep, ServiceDep
from fleetmem.api.problems import problem_responses
from fleetmem.api.responses import AuditEventsResponse, ConflictsResponse
from fleetmem.api.route_table import RouteTable
from fleetmem.api.schemas import NAMESPACE_PATTERN, ResolveConflictRequest
from fleetmem.memory.services import AuditHeadView, AuditVerification, ConflictView

router = RouteTable(prefix="/v1", tags=["oversight"])

_READ = problem_responses(400, 401, 403, 422, 429, 503)
_WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)
Filter = Annotated[str | None, Query(max_length=200)]


@router.get("/audit/events", responses=_READ, summary="Audit events")
async def audit_events(
        service: ServiceDep, caller: CallerDep,
        cursor: Annotated[int, Query(ge=0, examples=[0], description="Return events after "
                                     "this seq: `next_cursor` of the previous page (0: from "
                                     "the start).")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000, examples=[100])] = 100,
        agent: Annotated[str | None, Query(max_length=200, examples=["alice"],
                                           description="Only entries by this agent.")] = None,
        workflow: Annotated[str | None, Query(max_length=200, description="Only entries of "
                                              "this workflow id.")] = None,
        memory_id: Annotated[str | None, Query(max_length=64, description="Only entries "
                                               "about this memory.")] = None,
        operation: Annotated[str | None, Query(max_length=64, examples=["remember"])] = None,
        outcome: Annotated[str | None, Query(max_length=32, examples=["denied"])] = None,
) -> AuditEventsResponse:
    """Audit entries about the namespaces you can read (and your own), oldest first; an
    admin sees every entry."""
    events = await service.audit_query(caller, agent=agent, workflow=workflow,
                                       memory_id=memory_id, operation=operation,
                                       outcome=outcome, after_seq=cursor, limit=limit)
    return AuditEventsResponse(
        items=events, next_cursor=str(events[-1].seq) if len(events) == limit else None)


_HASH = "9f2c0b7e" * 8
_WITNESS = {"enabled": True, "seq": 125, "hash": _HASH, "at": "2026-03-02T10:15:00.000+00:00"}


def _example(value: object) -> dict[int | str, dict[str, object]]:
    return {200: {"content": {"application/json": {"example": value}}}}


@router.get("/audit/verify", summary="Verify the audit log (admin)", responses={
    **_READ, **_example({
        "ok": False, "checked": 120, "first_bad": None, "reason": "", "first_bad_seq": 121,
        "head_seq": 120, "head_hash": "4d1e" * 16,
        "witness": {**_WITNESS, "anchors": 125, "anchors_checked": 125},
        "problems": ["the audit log ends at seq 120 but the witness anchored seq 125 (hash "
                     "9f2c0b7e9f2c0b7e…, 2026-03-02T10:15:00.000+00:00): entries 121-125 "
                     "were removed"], "warnings": []})})
async def audit_verify(service: ServiceDep, caller: CallerDep) -> AuditVerification:
    """Check every entry's hash and link, and that the log still holds every head the
    witness anchored outside the database (a cut tail fails, naming the removed seqs).
    `ok` false lists the `problems`. Admin agents only (403 otherwise)."""
    return await service.audit_verify(caller)


@router.get("/audit/head", summary="Audit head and witness (admin)", responses={
    **_READ, **_example({"seq": 125, "hash": _HASH,
                         "witness": {**_WITNESS, "anchors": None, "anchors_checked": None}})})
async def audit_head(service: ServiceDep, caller: CallerDep) -> AuditHeadView:
    """The store's last audit seq and hash, and the last head the witness anchored (for a
    monitor that keeps its own copy off the machine). Admin agents only."""
    return await service.audit_head(caller)


@router.get("/conflicts", responses=_READ, summary="Conflicts between agents' facts")
async def list_conflicts(
        service: ServiceDep, caller: CallerDep,
        status: Annotated[Literal["open", "resolved", "all"], Query(examples=["open"])]
        = "open",
        namespace: Annotated[str | None, Query(pattern=NAMESPACE_PATTERN,
                                               examples=["team:atlas"])] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ConflictsResponse:
    """Facts two agents assert differently (both kept, flagged `disputed` in recall) in
    the namespaces you can read, oldest first."""
    items = await service.conflicts_list(caller, status=None if status == "all" else status,
                                         namespace=namespace, limit=limit)
    return ConflictsResponse(items=items)


@router.post("/conflicts/{conflict_id}/resolve", responses=_WRITE,
             summary="Resolve a conflict")
async def resolve_conflict(
        conflict_id: Annotated[str, Path(max_length=64, description="Id from the list.")],
        body: ResolveConflictRequest, service: ServiceDep, caller: CallerDep,
        idempotency_key: IdempotencyKeyDep = None) -> ConflictView:
    """Keep claim `a` (the earlier fact), `b` (the newer) or `both`; who chose what, when
    and why is recorded. 409 when it was already resolved."""
    return await service.conflicts_resolve(caller, conflict_id, body.keep, body.note,
                                           idempotency_key=idempotency_key)
