"""`MemoryService` methods that let an agent see where it stands: its namespaces, counts,
usage and the audit entries it may read; admin agents verify the audit."""

from __future__ import annotations

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.oversight import audit
from fleetmem.memory.services.oversight.namespaces import namespace_summary, namespace_views
from fleetmem.memory.services.oversight.usage import usage_for
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import operation
from fleetmem.memory.services.runtime.operations import META, READ
from fleetmem.memory.services.views.oversight import (
    AuditHeadView,
    AuditVerification,
    NamespaceSummaryView,
)
from fleetmem.memory.services.views.records import (
    AgentUsageView,
    AuditEventView,
    NamespaceView,
    StatsView,
)


class OversightMethods:
    """Namespaces, stats, usage and audit reads, scoped to what the caller may read."""

    ctx: ServiceContext

    @operation("list_namespaces", READ, audit_ids=False)
    async def list_namespaces(self, caller: Caller) -> list[NamespaceView]:
        """The namespaces the caller can see, with access, counts and team members."""
        return await namespace_views(self.ctx, caller,
                                     self.ctx.policy.readable(caller.agent_id))

    @operation("list_namespaces", READ, audit_ids=False)
    async def namespace_summary(self, caller: Caller, namespace: str) -> NamespaceSummaryView:
        """Counts, access, members and first entities of one readable namespace."""
        return await namespace_summary(self.ctx, caller, namespace)

    @operation("stats", READ, audit_ids=False)
    async def stats(self, caller: Caller) -> StatsView:
        """Counts over the caller's readable namespaces only."""
        views = await self.list_namespaces(caller)
        return StatsView(agent_id=caller.agent_id, namespaces=views,
                         total_memories=sum(sum(v.memories.values()) for v in views),
                         embedding_model=self.ctx.embedder.model_name,
                         usage=await usage_for(self.ctx, caller))

    @operation("stats", META)
    async def usage(self, caller: Caller) -> list[AgentUsageView]:
        """The caller's usage (every agent's for an admin)."""
        return await usage_for(self.ctx, caller)

    @operation("audit_read", READ, audit_ids=False)
    async def audit_events(self, caller: Caller, after_seq: int = 0,
                           limit: int = 100) -> list[AuditEventView]:
        """Audit entries about the caller's readable namespaces."""
        return await audit.events(self.ctx, caller, after_seq, limit)

    @operation("audit_read", READ, audit_ids=False)
    async def audit_query(self, caller: Caller, *, agent: str | None = None,
                          workflow: str | None = None, memory_id: str | None = None,
                          operation: str | None = None, outcome: str | None = None,
                          after_seq: int = 0, limit: int = 100,
                          newest_first: bool = False) -> list[AuditEventView]:
        """Audit entries matching the filters. Admins see every entry; other agents see
        entries about namespaces they can read and their own entries."""
        return await audit.query(self.ctx, caller, limit, agent=agent, workflow=workflow,
                                 memory_id=memory_id, operation=operation, outcome=outcome,
                                 after_seq=after_seq, newest_first=newest_first)

    @operation("audit_read", READ, audit_ids=False, admin=True)
    async def audit_verify(self, caller: Caller) -> AuditVerification:
        """Verify the whole audit chain and compare it with the witness (admin agents
        only: it reads every namespace's entries)."""
        return await audit.verify_chain(self.ctx)

    @operation("audit_read", READ, audit_ids=False, admin=True)
    async def audit_head(self, caller: Caller) -> AuditHeadView:
        """The store's audit head and the witness's last anchored head (admin agents)."""
        return await audit.head(self.ctx)
