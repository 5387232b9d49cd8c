"""The bodies of the decay sweep (archive what faded) and the purge (hard-delete what was
archived long enough, where the namespace policy allows); `jobs` runs them as GC jobs."""


from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

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
from fleetmem.memory.ports import MemoryFilter
from fleetmem.memory.services.maintenance import tidy
from fleetmem.memory.services.maintenance.tidy import preview
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.reports import (
    DecayReport,
    GcItem,
    PurgeReport,
)

logger = logging.getLogger(__name__)


def by_namespace(memories: Sequence[Memory]) -> dict[str, list[Memory]]:
    """Group memories by namespace (audit events are per namespace)."""
    groups: dict[str, list[Memory]] = defaultdict(list)
    for m in memories:
        groups[m.namespace].append(m)
    return groups


async def sweep(ctx: ServiceContext, caller: Caller, r: DecayReport) -> None:
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
        async with ctx.namespace_lock(ns), ctx.tier_gate.shared():
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


async def purge_archived(ctx: ServiceContext, caller: Caller, r: PurgeReport) -> None:
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
                async with ctx.tier_gate.shared():
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
