"""The CLI's operations, written once for both of its paths.

A CLI command names an operation and its arguments (plain JSON values). When no process
owns the data folder the CLI runs it on a service it opens itself; when `fleetmem serve`
owns it, the CLI posts the same name and arguments to the service's local socket
(`fleetmem.api.local_door`), which runs the same function on its service. Either way the
service applies its rules and raises its own errors, so both paths answer alike; each
function here is one service (or job) call, nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter

from fleetmem.gc.jobs import job_names, run_job
from fleetmem.memory.services import (
    SYSTEM_CALLER,
    AuditEventView,
    AuditVerification,
    Caller,
    ConflictView,
    ExportedMemory,
    GcReport,
    ImportReport,
    JobSlot,
    MemoryInput,
    MemoryService,
    MemoryView,
    ProgressFn,
    RecallQuery,
    RecallResult,
    RememberResult,
    StatsView,
    no_progress,
)
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault.report import SyncReport
from fleetmem.vault.sync import Mode
from fleetmem.vault.sync import run as vault_run

T = TypeVar("T")


class AnyGcReport(GcReport):
    """A job report read back from JSON: the job's own counts kept as extra fields."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class Op(Generic[T]):
    """One CLI operation: its name on the socket, the call, and how to read its result."""

    name: str
    run: Callable[..., Awaitable[T]]
    result: TypeAdapter[T]
    embeds: bool = False  # whether the call encodes text (stores opened here preload the model)


async def _remember(s: MemoryService, agent: str, text: str, namespace: str | None,
                    kind: str, importance: float, tags: list[str],
                    pinned: bool, metadata: dict[str, Any] | None = None) -> RememberResult:
    return await s.remember(Caller(agent), MemoryInput(
        text=text, namespace=namespace, kind=kind, importance=importance, tags=tags,
        pinned=pinned, metadata=metadata or {}))


async def _recall(s: MemoryService, agent: str, query: str, k: int,
                  namespaces: list[str] | None,
                  metadata: dict[str, Any] | None = None,
                  neighbours: bool = True) -> RecallResult:
    result = await s.recall(Caller(agent), RecallQuery(query=query, k=k,
                                                       namespaces=namespaces,
                                                       metadata=metadata,
                                                       neighbours=neighbours))
    await s.flush()
    return result


async def _list(s: MemoryService, agent: str, namespaces: list[str] | None,
                after_id: str | None, limit: int,
                metadata: dict[str, Any] | None = None) -> list[MemoryView]:
    return await s.list_memories(Caller(agent), namespaces, after_id, limit,
                                 metadata=metadata)


async def _forget(s: MemoryService, agent: str, memory_id: str) -> MemoryView:
    return await s.forget(Caller(agent), memory_id)


async def _stats(s: MemoryService, agent: str) -> StatsView:
    return await s.stats(Caller(agent))


async def _audit_verify(s: MemoryService) -> AuditVerification:
    return await s.operator.verify_audit_chain()


async def _audit_query(s: MemoryService, as_agent: str | None,
                       **filters: Any) -> list[AuditEventView]:
    if as_agent:
        return await s.audit_query(Caller(as_agent), **filters)
    return await s.operator.audit_query(**filters)


async def _conflicts_list(s: MemoryService, agent: str, status: str | None,
                          namespace: str | None, limit: int) -> list[ConflictView]:
    return await s.conflicts_list(Caller(agent), status=status, namespace=namespace,
                                  limit=limit)


async def _conflicts_resolve(s: MemoryService, agent: str, conflict_id: str, keep: str,
                             note: str) -> ConflictView:
    return await s.conflicts_resolve(Caller(agent), conflict_id, keep, note)


async def _gc_run(s: MemoryService, job: str | None, dry_run: bool, slot: str | None,
                  owner: str, progress: ProgressFn = no_progress) -> list[GcReport]:
    claim = JobSlot(key=slot, owner=owner) if slot else None
    return [await run_job(s, name, dry_run=dry_run, slot=claim, caller=SYSTEM_CALLER,
                          progress=progress)
            for name in job_names(job)]


async def _gc_restore(s: MemoryService, memory_id: str) -> MemoryView:
    return await s.operator.gc_restore(SYSTEM_CALLER, memory_id)


async def _vault(s: MemoryService, mode: Mode, vault: dict[str, Any],
                 path: str | None, progress: ProgressFn = no_progress) -> SyncReport:
    return await vault_run(s, VaultSettings.model_validate(vault), mode,
                           Path(path) if path else None, progress)


async def _import_check(s: MemoryService, agent: str,
                        namespaces: list[str | None]) -> list[str]:
    return await s.import_check(Caller(agent), namespaces)


async def _import_lines(s: MemoryService, agent: str, lines: list[tuple[int, str]],
                        record_format: str, namespace: str | None,
                        strict: bool) -> ImportReport:
    return await s.import_lines(Caller(agent), [(int(n), str(t)) for n, t in lines],
                                record_format, namespace, strict)


async def _export_page(s: MemoryService, agent: str, namespaces: list[str] | None,
                       after_id: str | None, limit: int,
                       with_vectors: bool = False) -> list[ExportedMemory]:
    return await s.export_memories(Caller(agent), namespaces, after_id, limit,
                                   bool(with_vectors))


REMEMBER = Op("remember", _remember, TypeAdapter(RememberResult), embeds=True)
RECALL = Op("recall", _recall, TypeAdapter(RecallResult), embeds=True)
FORGET = Op("forget", _forget, TypeAdapter(MemoryView))
STATS = Op("stats", _stats, TypeAdapter(StatsView))
LIST = Op("list", _list, TypeAdapter(list[MemoryView]))
AUDIT_VERIFY = Op("audit_verify", _audit_verify, TypeAdapter(AuditVerification))
AUDIT_QUERY = Op("audit_query", _audit_query, TypeAdapter(list[AuditEventView]))
CONFLICTS_LIST = Op("conflicts_list", _conflicts_list, TypeAdapter(list[ConflictView]))
CONFLICTS_RESOLVE = Op("conflicts_resolve", _conflicts_resolve, TypeAdapter(ConflictView))
GC_RUN: Op[list[GcReport]] = Op("gc_run", _gc_run, TypeAdapter(list[AnyGcReport]))  # type: ignore[arg-type]
GC_RESTORE = Op("gc_restore", _gc_restore, TypeAdapter(MemoryView))
VAULT = Op("vault", _vault, TypeAdapter(SyncReport))
# Import and export go batch by batch (one call per batch of lines or page of memories),
# so a large file never travels in one request and the CLI can show progress.
IMPORT_CHECK = Op("import_check", _import_check, TypeAdapter(list[str]))
IMPORT_LINES = Op("import_lines", _import_lines, TypeAdapter(ImportReport), embeds=True)
EXPORT_PAGE = Op("export_page", _export_page, TypeAdapter(list[ExportedMemory]))

OPS: dict[str, Op[Any]] = {op.name: op for op in (
    REMEMBER, RECALL, FORGET, STATS, LIST, AUDIT_VERIFY, AUDIT_QUERY, CONFLICTS_LIST,
    CONFLICTS_RESOLVE, GC_RUN, GC_RESTORE, VAULT, IMPORT_CHECK, IMPORT_LINES, EXPORT_PAGE)}


def to_jsonable(value: Any) -> Any:
    """Pydantic models (and lists and dicts of them) as plain JSON values: what the socket
    answers and what `--json` prints."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value
