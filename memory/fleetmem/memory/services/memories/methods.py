"""`MemoryService` methods over memories and short-term buffers; each declares its
operation and delegates to one use case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph import edits
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories import buffers, lifecycle
from fleetmem.memory.services.memories.recall import RecallQuery, recall
from fleetmem.memory.services.memories.remember import remember_many
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import operation
from fleetmem.memory.services.runtime.operations import READ, WRITE
from fleetmem.memory.services.views.records import (
    BufferItemView,
    ConsolidateResult,
    MemoryView,
    RecallResult,
    RememberResult,
)


class MemoryMethods:
    """Remember, recall and the lifecycle of memories; session buffers."""

    ctx: ServiceContext

    @operation("remember", WRITE)
    async def remember(self, caller: Caller, memory: MemoryInput, *,
                       idempotency_key: str | None = None) -> RememberResult:
        """Write one memory (dedup, redaction, attribution); see `remember_batch`."""
        return (await remember_many(self.ctx, caller, [memory]))[0]

    @operation("remember", WRITE, cost="memories")
    async def remember_batch(self, caller: Caller, memories: Sequence[MemoryInput], *,
                             idempotency_key: str | None = None) -> list[RememberResult]:
        """Write several memories; results in input order. All validated before any write."""
        return await remember_many(self.ctx, caller, memories)

    @operation("recall", READ, audit_ids=False)
    async def recall(self, caller: Caller, query: RecallQuery) -> RecallResult:
        """Hybrid recall over the caller's readable namespaces."""
        # its reads (keyword leg, graph legs, rows, neighbours) share one read
        # transaction: one round trip on a server store (issue 22)
        async with self.ctx.memories.reading():
            return await recall(self.ctx, caller, query)

    @operation("get", READ)
    async def get(self, caller: Caller, memory_id: str) -> MemoryView:
        """One memory, or NotFound (also when it exists outside the caller's namespaces)."""
        return await lifecycle.get(self.ctx, caller, memory_id)

    @operation("history", READ)
    async def history(self, caller: Caller, memory_id: str) -> list[MemoryView]:
        """The versions of a memory (supersede chain), oldest first."""
        return await lifecycle.history(self.ctx, caller, memory_id)

    @operation("correct", WRITE)
    async def correct(self, caller: Caller, memory_id: str, text: str, *,
                      kind: str | None = None, importance: float | None = None,
                      reason: str = "", idempotency_key: str | None = None) -> MemoryView:
        """Atomically supersede a memory with a corrected one; the old one stays as history."""
        return await lifecycle.correct(self.ctx, caller, memory_id, text, kind=kind,
                                       importance=importance, reason=reason)

    @operation("forget", WRITE)
    async def forget(self, caller: Caller, memory_id: str, *,
                     idempotency_key: str | None = None) -> MemoryView:
        """Archive a memory: out of recall, kept, restorable."""
        return await lifecycle.set_archived(self.ctx, caller, memory_id, True)

    @operation("restore", WRITE)
    async def restore(self, caller: Caller, memory_id: str, *,
                      idempotency_key: str | None = None) -> MemoryView:
        """Bring an archived memory back: active, or superseded if it was corrected before."""
        return await lifecycle.set_archived(self.ctx, caller, memory_id, False)

    @operation("share", WRITE)
    async def share(self, caller: Caller, memory_id: str, namespace: str, *,
                    idempotency_key: str | None = None) -> RememberResult:
        """Copy a memory into another namespace (e.g. a team) with the caller's attribution."""
        return await lifecycle.share(self.ctx, caller, memory_id, namespace)

    @operation("export", READ, bulk=True)
    async def list_memories(self, caller: Caller, namespaces: Sequence[str] | None = None,
                            after_id: str | None = None, limit: int = 500,
                            metadata: Mapping[str, object] | None = None) -> list[MemoryView]:
        """A page of active memories of readable namespaces, ordered by id (with
        `metadata`: only those holding every given top-level key/value pair)."""
        return await edits.list_memories(self.ctx, caller, namespaces, after_id, limit,
                                          metadata)

    # buffers ---------------------------------------------------------------------------
    @operation("buffer_append", WRITE)
    async def buffer_append(self, caller: Caller, session_id: str, text: str, *,
                            role: str = "note", importance: float = 0.5,
                            namespace: str | None = None,
                            idempotency_key: str | None = None) -> BufferItemView:
        """Append to the caller's short-term buffer for a session."""
        return await buffers.append(self.ctx, caller, session_id, text, role=role,
                                    importance=importance, namespace=namespace)

    @operation("buffer_read", READ)
    async def buffer_read(self, caller: Caller, session_id: str,
                          limit: int = 50) -> list[BufferItemView]:
        """Read the caller's session buffer."""
        return await buffers.read(self.ctx, caller, session_id, limit)

    @operation("buffer_clear", WRITE)
    async def buffer_clear(self, caller: Caller, session_id: str, *,
                           idempotency_key: str | None = None) -> int:
        """Consolidate then clear the caller's session buffer."""
        return await buffers.clear(self.ctx, caller, session_id)

    @operation("consolidate", WRITE)
    async def consolidate(self, caller: Caller, session_id: str, *,
                          min_importance: float = 0.0,
                          idempotency_key: str | None = None) -> ConsolidateResult:
        """Promote a session's buffer into long-term memory."""
        return await buffers.consolidate(self.ctx, caller, session_id,
                                         min_importance=min_importance)
