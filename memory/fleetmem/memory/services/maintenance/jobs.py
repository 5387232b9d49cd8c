"""GC use cases: decay sweep, purge, buffer expiry, closing superseded facts, orphan
cleanup, tier reconciliation and restore, each returning a typed report.

GC jobs act on every namespace, so they run as a system principal: `GC_AGENT`
("system:gc", which no agents-file entry or API key can ever name, since agent ids
cannot contain ':'), or as an agent configured with `admin: true` whose roles allow the
operation ("gc", "purge" or "restore"). Every change is audited under the caller's id.
With several replicas, a `JobSlot` makes one scheduled run happen once: the first
runner to claim (job, slot key) in the shared store runs it, the others skip.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TypeVar

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Memory, MemoryStatus
from fleetmem.memory.domain.retention_policy import first_match, purge_decision
from fleetmem.memory.domain.scoring import (
    half_lives_with,
    idle_days,
    min_idle_days_to_decay,
    retention,
    strength,
)
from fleetmem.memory.domain.text import validate_id
from fleetmem.memory.errors import Conflict, NotFound
from fleetmem.memory.ports import MemoryFilter
from fleetmem.memory.services.maintenance import reconcile, tidy
from fleetmem.memory.services.maintenance.tidy import preview
from fleetmem.memory.services.memories.lifecycle import restored_status
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.operations import GC_AGENT
from fleetmem.memory.services.views.records import MemoryView
from fleetmem.memory.services.views.reports import (
    BufferExpiryReport,
    CloseSupersededReport,
    DecayReport,
    GcItem,
    GcReport,
    OrphanReport,
    PurgeReport,
    ReconcileReport,
)

logger = logging.getLogger(__name__)


SYSTEM_CALLER = Caller(agent_id=GC_AGENT)
R = TypeVar("R", bound=GcReport)


@dataclass(frozen=True, slots=True)
class JobSlot:
    """One scheduled run of a job: `key` names the run (e.g. its scheduled fire time),
    `owner` the replica claiming it."""

    key: str
    owner: str


async def _run(ctx: ServiceContext, caller: Caller, report: R, slot: JobSlot | None,
               body: Callable[[ServiceContext, Caller, R], Awaitable[None]]) -> R:
    """Claim the slot (real runs only), run the body, time it and log it (the caller was
    authorised by the `OperatorService` method's declaration)."""
    started = time.perf_counter()
    if slot is not None:
        report.slot = slot.key
        if not report.dry_run and not await ctx.upkeep.claim_job_slot(
                report.job, slot.key, slot.owner, report.at):
            report.skipped = f"slot {slot.key} was already claimed by another runner"
            logger.info("gc %s: skipped, slot %s claimed elsewhere", report.job, slot.key,
                        extra={"agent_id": caller.agent_id})
            return report
    await body(ctx, caller, report)
    report.duration_seconds = round(time.perf_counter() - started, 6)
    logger.info("gc %s%s: %s in %.3fs", report.job, " (dry run)" if report.dry_run else "",
                report.counts(), report.duration_seconds,
                extra={"agent_id": caller.agent_id, "workflow_id": caller.workflow_id})
    return report


def by_namespace(memories: Sequence[Memory]) -> dict[str, list[Memory]]:
    """Group memories by namespace (audit events are per namespace)."""
    groups: dict[str, list[Memory]] = defaultdict(list)
    for m in memories:
        groups[m.namespace].append(m)
    return groups


# decay sweep ---------------------------------------------------------------------------
async def decay_sweep(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                      slot: JobSlot | None = None) -> DecayReport:
    """Archive active, unpinned memories whose retention fell below the threshold:
    out of the vector tier and recall, kept in the graph, restorable."""
    report = DecayReport(job="decay", dry_run=dry_run, at=ctx.now(),
                         threshold=ctx.gc.archive_threshold)
    return await _run(ctx, caller, report, slot, _decay)


async def _decay(ctx: ServiceContext, caller: Caller, r: DecayReport) -> None:
    await ctx.reinforcer.flush()  # recent recalls count before anything is judged idle
    half_lives = half_lives_with(ctx.gc.half_life_days)
    min_idle = min_idle_days_to_decay(half_lives, r.threshold)
    namespaces = tuple(ns for ns in await ctx.upkeep.all_namespaces()
                       if first_match(ns, ctx.gc.decay_exempt_namespaces) is None)
    if math.isinf(min_idle) or not namespaces:
        return
    # Nothing created after this can be idle long enough: skip it without scoring.
    flt = MemoryFilter(namespaces=namespaces, statuses=(MemoryStatus.ACTIVE,),
                       created_before=r.at - timedelta(days=min_idle))
    after: str | None = None
    while page := await ctx.memories.list_memories(flt, after, ctx.gc.batch_size):
        after = page[-1].id
        r.seen += len(page)
        scored = [(m, retention(m, r.at, half_lives)) for m in page if not m.pinned]
        doomed = [(m, score) for m, score in scored if score < r.threshold]
        if not doomed:
            continue
        done = {m.id for m, _ in doomed} if r.dry_run else \
            await _archive(ctx, caller, [m for m, _ in doomed], r)
        for m, score in doomed:
            if m.id not in done:
                continue
            r.archived += 1
            idle = idle_days(m, r.at)
            r.add(GcItem(
                id=m.id, action="archive", namespace=m.namespace, kind=m.kind.value,
                score=round(score, 6), age_days=round(idle, 3), last_access=m.last_accessed_at,
                text=preview(m.text),
                reason=(f"retention {score:.4f} < {r.threshold} after {idle:.1f} idle days "
                        f"(half-life {half_lives[m.kind]:g}d x strength {strength(m):.2f})")),
                ctx.gc.report_max_items)


async def _archive(ctx: ServiceContext, caller: Caller, memories: list[Memory],
                   r: DecayReport) -> set[str]:
    """Archive per namespace (graph first, then the vector tier); return ids archived."""
    done: set[str] = set()
    for ns, group in by_namespace(memories).items():
        ids = [m.id for m in group]
        async with ctx.namespace_lock(ns):
            changed = await ctx.upkeep.transition_status(
                ids, MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED, r.at,
                [ctx.audit(caller, "gc_archive", namespace=ns, target_ids=ids,
                           detail=f"decay sweep: retention below {r.threshold}")])
            # A crash here leaves vectors of archived memories: recall filters them by the
            # graph, and the reconcile job drops them.
            await ctx.vectors.delete(changed)
        await tidy.audit_skipped(ctx, caller, "gc_archive", ns, ids, changed)
        done.update(changed)
    return done


# purge -----------------------------------------------------------------------------------
async def purge(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                slot: JobSlot | None = None) -> PurgeReport:
    """Hard-delete memories archived for longer than the retention period, only in
    namespaces the purge policy allows (never pinned ones); the audit records each."""
    report = PurgeReport(job="purge", dry_run=dry_run, at=ctx.now())
    return await _run(ctx, caller, report, slot, _purge)


async def _purge(ctx: ServiceContext, caller: Caller, r: PurgeReport) -> None:
    days = ctx.gc.purge_after_days
    cutoff = r.at - timedelta(days=days)
    for ns in await ctx.upkeep.all_namespaces():
        decision = purge_decision(ns, ctx.gc.purge_namespaces, ctx.gc.keep_namespaces)
        flt = MemoryFilter(namespaces=(ns,), statuses=(MemoryStatus.ARCHIVED,))
        after: str | None = None
        while page := await ctx.memories.list_memories(flt, after, ctx.gc.batch_size):
            after = page[-1].id
            r.seen += len(page)
            if not decision.allowed:
                r.kept_by_policy += len(page)
                continue
            # While archived, updated_at is the time of archiving (nothing else writes it).
            due = [m for m in page if m.updated_at <= cutoff and not m.pinned]
            r.kept_by_policy += sum(1 for m in page if m.pinned)
            r.kept_by_retention += len(page) - len(due) - sum(1 for m in page if m.pinned)
            if not due:
                continue
            ids = [m.id for m in due]
            if not r.dry_run:
                gone = await ctx.upkeep.purge_memories(ids, [ctx.audit(
                    caller, "gc_purge", namespace=ns, target_ids=ids,
                    detail=f"archived before {cutoff.isoformat()}; {decision.rule}")])
                await ctx.vectors.delete(gone)
                await tidy.audit_skipped(ctx, caller, "gc_purge", ns, ids, gone)
                kept = set(ids) - set(gone)
                due = [m for m in due if m.id not in kept]
            for m in due:
                r.purged += 1
                archived_days = (r.at - m.updated_at).total_seconds() / 86400.0
                r.add(GcItem(id=m.id, action="purge", namespace=ns, kind=m.kind.value,
                             age_days=round(archived_days, 3), last_access=m.last_accessed_at,
                             text=preview(m.text),
                             reason=f"archived {archived_days:.1f} days (> {days:g}); "
                                    f"{decision.rule}"), ctx.gc.report_max_items)


# restore ---------------------------------------------------------------------------------
async def restore(ctx: ServiceContext, caller: Caller, memory_id: object) -> MemoryView:
    """Bring an archived memory back from any namespace (operator restore); its idle time
    restarts, so the next sweep does not archive it again at once.

    Raises:
        NotFound: no memory with this id. Conflict: it is not archived.
    """
    mid = validate_id(memory_id)
    found = await ctx.memories.get_memories([mid], await ctx.upkeep.all_namespaces())
    if not found:
        raise NotFound(f"no memory {mid}; it may have been purged (see the audit log)",
                       field="id", rule="not_found")
    memory = found[0]
    if memory.status is not MemoryStatus.ARCHIVED:
        raise Conflict(f"memory {mid} is {memory.status.value}, not archived", field="id",
                       rule="not_archived")
    now = ctx.now()
    target = restored_status(memory)
    async with ctx.namespace_lock(memory.namespace):  # graph then vectors, like forget
        changed = await ctx.upkeep.transition_status(
            [mid], MemoryStatus.ARCHIVED, target, now,
            [ctx.audit(caller, "gc_restore", namespace=memory.namespace, target_ids=[mid])])
        if not changed:
            raise Conflict(f"memory {mid} changed concurrently; read it again and retry",
                           field="id", rule="concurrent_update")
        restored = replace(memory, status=target, updated_at=now)
        vec = (await ctx.memories.get_vectors([mid])).get(mid)
        if vec is not None:
            await ctx.vectors.upsert([ctx.point(restored, vec)])
    return MemoryView.of(restored)


# the graph-shaped jobs (bodies in tidy.py) ----------------------------------------
async def expire_buffers(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                         slot: JobSlot | None = None) -> BufferExpiryReport:
    """Consolidate buffer items older than the TTL into long-term memory, then delete
    them; an item whose consolidation is refused stays (nothing expires unseen)."""
    report = BufferExpiryReport(job="buffers", dry_run=dry_run, at=ctx.now())
    return await _run(ctx, caller, report, slot, tidy.expire_buffers)


async def close_superseded(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                           slot: JobSlot | None = None) -> CloseSupersededReport:
    """Close active facts that are no longer current (validity ended, or a successor
    exists) as superseded, keeping them as history."""
    report = CloseSupersededReport(job="superseded", dry_run=dry_run, at=ctx.now())
    return await _run(ctx, caller, report, slot, tidy.close_superseded)


async def clean_orphans(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                        slot: JobSlot | None = None) -> OrphanReport:
    """Delete entities with no observations, relations or memories, past the grace."""
    report = OrphanReport(job="orphans", dry_run=dry_run, at=ctx.now())
    return await _run(ctx, caller, report, slot, tidy.clean_orphans)


async def reconcile_tiers(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                          slot: JobSlot | None = None) -> ReconcileReport:
    """Re-index memories missing from the vector tier; drop vectors whose memory is gone."""
    report = ReconcileReport(job="reconcile", dry_run=dry_run, at=ctx.now())
    return await _run(ctx, caller, report, slot, reconcile.reconcile_job)
