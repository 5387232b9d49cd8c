"""`MemoryService`: the one service layer every door (MCP, REST, vault, GC, CLI) calls.

Each method takes the `Caller` first and enforces authorization, validation, redaction,
dedup, attribution and audit itself; the use cases live in sibling modules.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetmem.memory.domain import audit as audit_rules
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import InvalidInput, StorageUnavailable
from fleetmem.memory.services.graph import edits as vault_ops
from fleetmem.memory.services.graph import entities as graph_ops
from fleetmem.memory.services.graph import lookup as entity_lookup
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.graph.relate import relate
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.maintenance import jobs as maintenance
from fleetmem.memory.services.maintenance.jobs import JobSlot
from fleetmem.memory.services.memories import buffers, lifecycle
from fleetmem.memory.services.memories.recall import RecallQuery, recall
from fleetmem.memory.services.memories.remember import remember_many
from fleetmem.memory.services.oversight.audit import OversightMethods
from fleetmem.memory.services.oversight.namespaces import namespace_summary
from fleetmem.memory.services.oversight.usage import usage_for
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import governed
from fleetmem.memory.services.views.oversight import NamespaceSummaryView, RelateResult
from fleetmem.memory.services.views.records import (
    AuditEventView,
    BufferItemView,
    ConsolidateResult,
    EntityView,
    GraphView,
    MemoryView,
    NamespaceView,
    ObservationResult,
    RecallResult,
    RelationView,
    RememberResult,
    StatsView,
)
from fleetmem.memory.services.views.reports import (
    BufferExpiryReport,
    CloseSupersededReport,
    DecayReport,
    OrphanReport,
    PurgeReport,
    ReconcileReport,
)


@governed
class MemoryService(OversightMethods):
    """Every memory operation, for every caller, through one set of rules."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._warming = False
        self._model_ready = False

    # lifecycle ----------------------------------------------------------------------
    async def start(self) -> dict[str, int]:
        """Open the stores, run the repair pass (finish or roll back half-done writes) and
        build the vector index when many points are unindexed (before serving anyone)."""
        await self.ctx.graph.open()
        report = await lifecycle.repair(self.ctx)
        report["indexed"] = await self.ctx.vectors.build_index(self.ctx.index_min_unindexed)
        return report

    async def close(self) -> None:
        """Flush batched writes and close the stores."""
        await self.ctx.reinforcer.close()
        await self.ctx.vectors.close()
        await self.ctx.graph.close()

    async def flush(self) -> None:
        """Write batched reinforcement and read-audit now (tests, shutdown)."""
        await self.ctx.reinforcer.flush()

    async def warm_up(self) -> None:
        """Load the embedding model now (one small encode), so the first write or recall
        after start does not pay for it; `ready` reports not-ready until this finishes.
        Servers call it in the background right after `start`."""
        self._warming = True
        await self.ctx.embed(["warm-up"])
        self._model_ready = True

    async def ready(self) -> None:
        """Raise StorageUnavailable unless every store answers (and, once `warm_up` has
        begun, until the embedding model is loaded)."""
        await self.ctx.graph.ping()
        await self.ctx.vectors.count()
        if self._warming and not self._model_ready:
            raise StorageUnavailable("embedding", retryable=True,
                                     detail="the embedding model is still loading")

    # memories -------------------------------------------------------------------------
    async def remember(self, caller: Caller, memory: MemoryInput, *,
                       idempotency_key: str | None = None) -> RememberResult:
        """Write one memory (dedup, redaction, attribution); see `remember_batch`."""
        return (await remember_many(self.ctx, caller, [memory],
                                    idempotency_key=idempotency_key))[0]

    async def remember_batch(self, caller: Caller, memories: Sequence[MemoryInput], *,
                             idempotency_key: str | None = None) -> list[RememberResult]:
        """Write several memories; results in input order. All validated before any write."""
        return await remember_many(self.ctx, caller, memories, idempotency_key=idempotency_key)

    async def recall(self, caller: Caller, query: RecallQuery) -> RecallResult:
        """Hybrid recall over the caller's readable namespaces."""
        return await recall(self.ctx, caller, query)

    async def get(self, caller: Caller, memory_id: str) -> MemoryView:
        """One memory, or NotFound (also when it exists outside the caller's namespaces)."""
        return await lifecycle.get(self.ctx, caller, memory_id)

    async def history(self, caller: Caller, memory_id: str) -> list[MemoryView]:
        """The versions of a memory (supersede chain), oldest first."""
        return await lifecycle.history(self.ctx, caller, memory_id)

    async def correct(self, caller: Caller, memory_id: str, text: str, *,
                      kind: str | None = None, importance: float | None = None,
                      reason: str = "") -> MemoryView:
        """Atomically supersede a memory with a corrected one; the old one stays as history."""
        return await lifecycle.correct(self.ctx, caller, memory_id, text, kind=kind,
                                       importance=importance, reason=reason)

    async def forget(self, caller: Caller, memory_id: str) -> MemoryView:
        """Archive a memory: out of recall, kept, restorable."""
        return await lifecycle.set_archived(self.ctx, caller, memory_id, True)

    async def restore(self, caller: Caller, memory_id: str) -> MemoryView:
        """Bring an archived memory back: active, or superseded if it was corrected before."""
        return await lifecycle.set_archived(self.ctx, caller, memory_id, False)

    async def share(self, caller: Caller, memory_id: str, namespace: str) -> RememberResult:
        """Copy a memory into another namespace (e.g. a team) with the caller's attribution."""
        return await lifecycle.share(self.ctx, caller, memory_id, namespace)

    # graph ------------------------------------------------------------------------------
    async def create_entities(self, caller: Caller, entities: Sequence[EntitySpec],
                              namespace: str | None = None) -> list[EntityView]:
        """Create entities (existing names are skipped, as in the reference server)."""
        return await graph_ops.create_entities(self.ctx, caller, entities, namespace)

    async def create_relations(self, caller: Caller, relations: Sequence[RelationSpec],
                               namespace: str | None = None, *,
                               one_valued: bool = False) -> list[RelationView]:
        """Create relations between existing entities."""
        return await graph_ops.create_relations(self.ctx, caller, relations, namespace,
                                                one_valued=one_valued)

    async def relate(self, caller: Caller, from_entity: str, relation_type: str,
                     to_entity: str, *, namespace: str | None = None,
                     from_type: str = "entity", to_type: str = "entity",
                     exclusive: bool = False) -> RelateResult:
        """One relation, creating missing endpoint entities; `exclusive` closes old values."""
        return await relate(self.ctx, caller, from_entity, relation_type, to_entity,
                            namespace=namespace, from_type=from_type, to_type=to_type,
                            exclusive=exclusive)

    async def add_observations(self, caller: Caller,
                               items: Sequence[tuple[str, Sequence[str]]],
                               namespace: str | None = None) -> list[ObservationResult]:
        """Add observations to existing entities."""
        return await graph_ops.add_observations(self.ctx, caller, items, namespace)

    async def delete_entities(self, caller: Caller, names: Sequence[str],
                              namespace: str | None = None) -> list[str]:
        """Delete entities and their relations (their memories are archived)."""
        return await graph_ops.delete_entities(self.ctx, caller, names, namespace)

    async def delete_observations(self, caller: Caller,
                                  items: Sequence[tuple[str, Sequence[str]]],
                                  namespace: str | None = None) -> int:
        """Delete observations from entities."""
        return await graph_ops.delete_observations(self.ctx, caller, items, namespace)

    async def delete_relations(self, caller: Caller, relations: Sequence[RelationSpec],
                               namespace: str | None = None) -> int:
        """Delete relations."""
        return await graph_ops.delete_relations(self.ctx, caller, relations, namespace)

    async def read_graph(self, caller: Caller, namespaces: Sequence[str] | None = None,
                         cursor: str | None = None, limit: int = 50) -> GraphView:
        """A page of the readable graph."""
        return await graph_ops.read_graph(self.ctx, caller, namespaces, cursor, limit)

    async def search_nodes(self, caller: Caller, query: str,
                           namespaces: Sequence[str] | None = None,
                           limit: int = 50) -> GraphView:
        """Substring search over entity names, types and observations."""
        return await graph_ops.search_nodes(self.ctx, caller, query, namespaces, limit)

    async def open_nodes(self, caller: Caller, names: Sequence[str],
                         namespaces: Sequence[str] | None = None) -> GraphView:
        """The named entities and the relations among them."""
        return await graph_ops.open_nodes(self.ctx, caller, names, namespaces)

    async def neighbours(self, caller: Caller, name: str,
                         namespaces: Sequence[str] | None = None) -> GraphView:
        """An entity with its relations and neighbouring entities."""
        return await graph_ops.neighbours(self.ctx, caller, name, namespaces)

    async def get_entity(self, caller: Caller, name: str,
                         namespace: str | None = None) -> EntityView:
        """One entity by name (first readable namespace holding it), or NotFound."""
        return await entity_lookup.get_entity(self.ctx, caller, name, namespace)

    async def update_entity(self, caller: Caller, name: str, namespace: str | None = None, *,
                            entity_type: str | None = None, aliases: Sequence[str] | None = None,
                            tags: Sequence[str] | None = None) -> EntityView:
        """Replace an entity's type, aliases and/or tags (None keeps a field)."""
        return await vault_ops.update_entity(self.ctx, caller, name, namespace,
                                             entity_type=entity_type, aliases=aliases, tags=tags)

    async def rename_entity(self, caller: Caller, name: str, new_name: str,
                            namespace: str | None = None) -> EntityView:
        """Rename an entity; relations and wikilinks in observations follow it."""
        return await vault_ops.rename_entity(self.ctx, caller, name, new_name, namespace)

    async def list_memories(self, caller: Caller, namespaces: Sequence[str] | None = None,
                            after_id: str | None = None, limit: int = 500) -> list[MemoryView]:
        """A page of active memories of readable namespaces, ordered by id."""
        return await vault_ops.list_memories(self.ctx, caller, namespaces, after_id, limit)

    # buffers ---------------------------------------------------------------------------
    async def buffer_append(self, caller: Caller, session_id: str, text: str, *,
                            role: str = "note", importance: float = 0.5,
                            namespace: str | None = None) -> BufferItemView:
        """Append to the caller's short-term buffer for a session."""
        return await buffers.append(self.ctx, caller, session_id, text, role=role,
                                    importance=importance, namespace=namespace)

    async def buffer_read(self, caller: Caller, session_id: str,
                          limit: int = 50) -> list[BufferItemView]:
        """Read the caller's session buffer."""
        return await buffers.read(self.ctx, caller, session_id, limit)

    async def buffer_clear(self, caller: Caller, session_id: str) -> int:
        """Consolidate then clear the caller's session buffer."""
        return await buffers.clear(self.ctx, caller, session_id)

    async def consolidate(self, caller: Caller, session_id: str, *,
                          min_importance: float = 0.0) -> ConsolidateResult:
        """Promote a session's buffer into long-term memory."""
        return await buffers.consolidate(self.ctx, caller, session_id,
                                         min_importance=min_importance)

    # namespaces, stats, audit -----------------------------------------------------------
    async def list_namespaces(self, caller: Caller) -> list[NamespaceView]:
        """The namespaces the caller can see, with access, counts and team members."""
        self.ctx.policy.check_operation(caller.agent_id, "list_namespaces")
        readable = self.ctx.policy.readable(caller.agent_id)
        writable = set(self.ctx.policy.writable(caller.agent_id))
        stats = await self.ctx.graph.stats(readable, buffer_agent=caller.agent_id)
        members = self.ctx.policy.team_members
        return [NamespaceView.of(s, "read-write" if s.namespace in writable else "read",
                                 sorted(members.get(s.namespace.removeprefix("team:"), ()))
                                 if s.namespace.startswith("team:") else [])
                for s in stats]

    async def namespace_summary(self, caller: Caller, namespace: str) -> NamespaceSummaryView:
        """Counts, access, members and first entities of one readable namespace."""
        return await namespace_summary(self.ctx, caller, namespace)

    async def stats(self, caller: Caller) -> StatsView:
        """Counts over the caller's readable namespaces only."""
        self.ctx.policy.check_operation(caller.agent_id, "stats")
        views = await self.list_namespaces(caller)
        return StatsView(agent_id=caller.agent_id, namespaces=views,
                         total_memories=sum(sum(v.memories.values()) for v in views),
                         embedding_model=self.ctx.embedder.model_name,
                         usage=await usage_for(self.ctx, caller))

    async def audit_events(self, caller: Caller, after_seq: int = 0,
                           limit: int = 100) -> list[AuditEventView]:
        """Audit entries about the caller's readable namespaces."""
        self.ctx.policy.check_operation(caller.agent_id, "audit_read")
        if not 1 <= limit <= 1000 or after_seq < 0:
            raise InvalidInput("limit must be 1..1000 and after_seq >= 0", field="limit",
                               rule="range")
        readable = self.ctx.policy.readable(caller.agent_id)
        events = await self.ctx.graph.audit_events(readable, after_seq, limit)
        return [AuditEventView.of(e) for e in events]

    async def verify_audit(self) -> int | None:
        """Check the whole audit chain; return the seq of the first bad entry, or None."""
        prev, after = audit_rules.GENESIS, 0
        while True:
            events = await self.ctx.graph.audit_events(None, after, 5000)
            if not events:
                return None
            bad = audit_rules.first_broken(events, prev)
            if bad is not None:
                return bad
            prev, after = events[-1].hash, events[-1].seq

    # maintenance (GC): system principal `maintenance.GC_AGENT` or an admin agent ---------
    async def gc_decay(self, caller: Caller, *, dry_run: bool = False,
                       slot: JobSlot | None = None) -> DecayReport:
        """Archive memories whose retention fell below the threshold (restorable)."""
        return await maintenance.decay_sweep(self.ctx, caller, dry_run=dry_run, slot=slot)

    async def gc_purge(self, caller: Caller, *, dry_run: bool = False,
                       slot: JobSlot | None = None) -> PurgeReport:
        """Hard-delete long-archived memories where the namespace policy allows."""
        return await maintenance.purge(self.ctx, caller, dry_run=dry_run, slot=slot)

    async def gc_buffers(self, caller: Caller, *, dry_run: bool = False,
                         slot: JobSlot | None = None) -> BufferExpiryReport:
        """Consolidate, then expire, short-term buffer items older than the TTL."""
        return await maintenance.expire_buffers(self.ctx, caller, dry_run=dry_run, slot=slot)

    async def gc_superseded(self, caller: Caller, *, dry_run: bool = False,
                            slot: JobSlot | None = None) -> CloseSupersededReport:
        """Close active facts whose validity ended or whose successor exists."""
        return await maintenance.close_superseded(self.ctx, caller, dry_run=dry_run, slot=slot)

    async def gc_orphans(self, caller: Caller, *, dry_run: bool = False,
                         slot: JobSlot | None = None) -> OrphanReport:
        """Delete entities nothing refers to, after the grace period."""
        return await maintenance.clean_orphans(self.ctx, caller, dry_run=dry_run, slot=slot)

    async def gc_reconcile(self, caller: Caller, *, dry_run: bool = False,
                           slot: JobSlot | None = None) -> ReconcileReport:
        """Re-align the vector tier with the graph and report the differences."""
        return await maintenance.reconcile_tiers(self.ctx, caller, dry_run=dry_run, slot=slot)

    async def gc_restore(self, caller: Caller, memory_id: str) -> MemoryView:
        """Restore an archived memory in any namespace (operator restore)."""
        return await maintenance.restore(self.ctx, caller, memory_id)
