"""`OperatorService`: the work of whoever runs the service, not of agents: scheduled GC
jobs (as the system principal or an admin agent), restores in any namespace, audit
verification and whole-log queries, usage reports, whole-store counts and the metric
families of `/metrics`.

Doors reach it as `MemoryService.operator`; the operator-facing ones are the CLI (run by
whoever holds the data folder), the GC scheduler, `/metrics` and the loopback operator
metrics port.
"""

from __future__ import annotations

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import NamespaceStats
from fleetmem.memory.services.maintenance import jobs
from fleetmem.memory.services.maintenance.jobs import JobSlot
from fleetmem.memory.services.oversight import audit
from fleetmem.memory.services.oversight.metrics import MetricFamily, families
from fleetmem.memory.services.oversight.stats import memory_counts
from fleetmem.memory.services.oversight.usage import agent_usage
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import operation
from fleetmem.memory.services.runtime.operations import META, WRITE
from fleetmem.memory.services.runtime.progress import ProgressFn, no_progress
from fleetmem.memory.services.views.oversight import AuditHeadView, AuditVerification
from fleetmem.memory.services.views.records import AgentUsageView, AuditEventView, MemoryView
from fleetmem.memory.services.views.reports import (
    BufferExpiryReport,
    CloseSupersededReport,
    DecayReport,
    OrphanReport,
    PurgeReport,
    ReconcileReport,
)


class OperatorService:
    """Operator work over the same stores and rules as `MemoryService`."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # GC jobs: the system principal `GC_AGENT` or an admin agent --------------------------
    @operation("gc", WRITE, admin=True)
    async def gc_decay(self, caller: Caller, *, dry_run: bool = False,
                       slot: JobSlot | None = None) -> DecayReport:
        """Archive memories whose retention fell below the threshold (restorable)."""
        return await jobs.decay_sweep(self.ctx, caller, dry_run=dry_run, slot=slot)

    @operation("purge", WRITE, admin=True)
    async def gc_purge(self, caller: Caller, *, dry_run: bool = False,
                       slot: JobSlot | None = None) -> PurgeReport:
        """Hard-delete long-archived memories where the namespace policy allows."""
        return await jobs.purge(self.ctx, caller, dry_run=dry_run, slot=slot)

    @operation("gc", WRITE, admin=True)
    async def gc_buffers(self, caller: Caller, *, dry_run: bool = False,
                         slot: JobSlot | None = None) -> BufferExpiryReport:
        """Consolidate, then expire, short-term buffer items older than the TTL."""
        return await jobs.expire_buffers(self.ctx, caller, dry_run=dry_run, slot=slot)

    @operation("gc", WRITE, admin=True)
    async def gc_superseded(self, caller: Caller, *, dry_run: bool = False,
                            slot: JobSlot | None = None) -> CloseSupersededReport:
        """Close active facts whose validity ended or whose successor exists."""
        return await jobs.close_superseded(self.ctx, caller, dry_run=dry_run, slot=slot)

    @operation("gc", WRITE, admin=True)
    async def gc_orphans(self, caller: Caller, *, dry_run: bool = False,
                         slot: JobSlot | None = None) -> OrphanReport:
        """Delete entities nothing refers to, after the grace period."""
        return await jobs.clean_orphans(self.ctx, caller, dry_run=dry_run, slot=slot)

    @operation("gc", WRITE, admin=True)
    async def gc_reconcile(self, caller: Caller, *, dry_run: bool = False,
                           slot: JobSlot | None = None,
                           progress: ProgressFn = no_progress) -> ReconcileReport:
        """Re-align the vector tier with the graph (re-index what is missing, drop what is
        gone) and report the differences; `progress` hears the re-indexing advance."""
        return await jobs.reconcile_tiers(self.ctx, caller, dry_run=dry_run, slot=slot,
                                          progress=progress)

    @operation("restore", WRITE, admin=True)
    async def gc_restore(self, caller: Caller, memory_id: str) -> MemoryView:
        """Restore an archived memory in any namespace (operator restore)."""
        return await jobs.restore(self.ctx, caller, memory_id)

    # audit, usage, counts: for whoever holds the data folder ----------------------------
    async def verify_audit(self) -> int | None:
        """Check the whole audit chain and the witness; return the first seq that fails (a
        broken entry, an anchored one missing or changed, the first removed one of a cut
        tail), or None."""
        result = await audit.verify_chain(self.ctx)
        if result.ok:
            return None
        return result.first_bad_seq or 0  # 0: the witness itself fails (e.g. a bad HMAC)

    async def verify_audit_chain(self) -> AuditVerification:
        """Check every entry's hash and link, and the store against the witness (a cut
        tail fails); name what fails."""
        return await audit.verify_chain(self.ctx)

    async def audit_head(self) -> AuditHeadView:
        """The store's audit head and the last head the witness anchored."""
        return await audit.head(self.ctx)

    async def audit_query(self, *, agent: str | None = None, workflow: str | None = None,
                          memory_id: str | None = None, operation: str | None = None,
                          outcome: str | None = None, after_seq: int = 0, limit: int = 100,
                          newest_first: bool = False) -> list[AuditEventView]:
        """Every matching audit entry (agents use `MemoryService.audit_query`)."""
        return await audit.query(self.ctx, None, limit, agent=agent, workflow=workflow,
                                 memory_id=memory_id, operation=operation, outcome=outcome,
                                 after_seq=after_seq, newest_first=newest_first)

    async def usage_report(self) -> list[AgentUsageView]:
        """Every agent's usage (`/metrics` shows it summed, or per agent to an operator)."""
        return await agent_usage(self.ctx)

    async def memory_counts(self) -> list[NamespaceStats]:
        """Counts per namespace over the whole store (never content; `/metrics` shows them
        summed, or per namespace to an operator)."""
        return await memory_counts(self.ctx)

    # /metrics: aggregate for anyone, per-namespace/per-agent only for an operator ---------
    async def public_metrics(self) -> list[MetricFamily]:
        """Store counts and usage summed over every namespace and agent: no family names
        one (what `/metrics` answers a scrape without a key)."""
        return await families(self.ctx, detail=False)

    @operation("stats", META, admin=True)
    async def operator_metrics(self, caller: Caller) -> list[MetricFamily]:
        """The aggregate families plus, when `metrics.detail` is on, the per-namespace and
        per-agent ones; only an admin agent may ask (403 `admin_only` otherwise, audited),
        whether detail is on or not, so a misconfigured scrape shows rather than degrades."""
        return await families(self.ctx, detail=self.ctx.metrics.detail)

    async def local_metrics(self) -> list[MetricFamily]:
        """The operator channel's families (the loopback metrics port, like the CLI: whoever
        can reach it runs the host): detailed when `metrics.detail` is on."""
        return await families(self.ctx, detail=self.ctx.metrics.detail)
