"""Bodies of the graph-shaped GC jobs (buffer expiry, closing superseded facts, orphan
cleanup, reconciliation); `maintenance` wraps them with authorization, slots and timing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Entity, Memory, MemoryStatus
from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.services.memories import buffers
from fleetmem.memory.services.memories.methods import MemoryMethods
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import authorize, declared
from fleetmem.memory.services.views.reports import (
    BufferExpiryReport,
    CloseSupersededReport,
    GcItem,
    OrphanReport,
)

_ALL_ITEMS = 1_000_000  # buffer_read limit meaning "the whole session"


async def audit_skipped(ctx: ServiceContext, caller: Caller, operation: str,
                        namespace: str | None, wanted: Sequence[str],
                        done: Sequence[str]) -> None:
    """Record which listed targets a GC step left alone (changed concurrently), so the
    audit never claims more than happened."""
    left = [i for i in wanted if i not in set(done)]
    if left:
        await ctx.audit_log.append_audit([ctx.audit(
            caller, operation, namespace=namespace, target_ids=left, outcome="skipped",
            detail="changed concurrently; left as it was")])


def preview(text: str, size: int = 80) -> str:
    """The first `size` characters of a text on one line (for reports)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size - 1] + "…"


_CONSOLIDATE = declared(MemoryMethods.consolidate)


# buffer expiry -------------------------------------------------------------------------
async def expire_buffers(ctx: ServiceContext, caller: Caller, r: BufferExpiryReport) -> None:
    """Consolidate, as its owner, each session's items older than the TTL; then delete
    the consolidated ones. A refused consolidation leaves the items in place."""
    hours = ctx.gc.buffer_ttl_hours
    cutoff = r.at - timedelta(hours=hours)
    for agent_id, session_id in await ctx.buffers.buffer_sessions_older_than(cutoff):
        r.sessions += 1
        old = [i for i in await ctx.buffers.buffer_read(agent_id, session_id, _ALL_ITEMS)
               if i.created_at < cutoff]
        r.seen += len(old)
        pending = [i for i in old if i.consolidated_into is None]
        blocked = False
        if pending and not r.dry_run:
            owner = Caller(agent_id=agent_id, session_id=session_id)
            try:
                authorize(ctx, owner, _CONSOLIDATE)
                result = await buffers.consolidate(
                    ctx, owner, session_id, min_importance=ctx.gc.buffer_min_importance,
                    before=cutoff)
            except FleetmemError as exc:  # e.g. the owner lost write access: keep items
                blocked = True
                r.blocked_sessions += 1
                r.errors.append(f"{agent_id}/{session_id}: consolidation refused "
                                f"({exc.code}): {exc.message}; its items are kept")
            else:
                r.consolidated += len(pending)
                r.promoted += len(result.promoted)
        elif pending:
            r.consolidated += len(pending)
        expired = len(old) - (len(pending) if blocked else 0)
        if not r.dry_run:
            expired = await ctx.buffers.buffer_delete_before(agent_id, session_id, cutoff)
            if expired:
                await ctx.audit_log.append_audit([ctx.audit(
                    caller, "gc_expire_buffer", namespace=old[0].namespace if old else None,
                    detail=f"{agent_id}/{session_id}: {expired} items older than {hours:g}h "
                           "expired after consolidation")])
        r.expired += expired
        for i in old:
            if blocked and i.consolidated_into is None:
                continue
            how = "consolidated earlier" if i.consolidated_into else "consolidated first"
            r.add(GcItem(id=i.id, action="expire", namespace=i.namespace,
                         age_days=round((r.at - i.created_at).total_seconds() / 86400, 3),
                         text=preview(i.text),
                         reason=f"buffer item of {agent_id}/{session_id} older than "
                                f"{hours:g}h; {how}"), ctx.gc.report_max_items)


# close superseded facts ----------------------------------------------------------------
async def close_superseded(ctx: ServiceContext, caller: Caller,
                           r: CloseSupersededReport) -> None:
    """Close active memories whose validity ended or whose successor exists."""
    namespaces = await ctx.upkeep.all_namespaces()
    after: str | None = None
    while page := await ctx.upkeep.unclosed_memories(r.at, after, ctx.gc.batch_size):
        after = page[-1][0].id
        r.seen += len(page)
        successors = {m.id: m for m in await ctx.memories.get_memories(
            [s for _, s in page if s], namespaces)}
        closures: list[tuple[Memory, datetime, str | None, str]] = []
        for m, succ in page:
            if m.valid_to is not None and m.valid_to <= r.at:
                end, why = m.valid_to, f"validity ended {m.valid_to.isoformat()}"
            else:
                nxt = successors.get(succ or "")
                end = m.valid_to or (nxt.valid_from if nxt else r.at)
                why = f"superseded by {succ}"
            closures.append((m, end, succ, why))
        done = {m.id for m, *_ in closures} if r.dry_run else \
            await _close(ctx, caller, closures, r.at)
        for m, end, _succ, why in closures:
            if m.id in done:
                r.closed += 1
                r.add(GcItem(id=m.id, action="close", namespace=m.namespace,
                             kind=m.kind.value, text=preview(m.text),
                             reason=f"{why}; closed as superseded (valid to "
                                    f"{end.isoformat()})"), ctx.gc.report_max_items)


async def _close(ctx: ServiceContext, caller: Caller,
                 closures: list[tuple[Memory, datetime, str | None, str]],
                 at: datetime) -> set[str]:
    groups: dict[str, list[tuple[Memory, datetime, str | None, str]]] = defaultdict(list)
    for c in closures:
        groups[c[0].namespace].append(c)
    done: set[str] = set()
    for ns, group in groups.items():
        ids = [m.id for m, *_ in group]
        async with ctx.tier_gate.shared():
            closed = await ctx.upkeep.close_memories(
                [(m.id, end, succ) for m, end, succ, _ in group], at,
                [ctx.audit(caller, "gc_close_superseded", namespace=ns, target_ids=ids)])
            vectors = await ctx.memories.get_vectors(closed)
            await ctx.vectors.upsert([
                ctx.point(replace(m, status=MemoryStatus.SUPERSEDED), vectors[m.id])
                for m, *_ in group if m.id in vectors and m.id in closed])
        await audit_skipped(ctx, caller, "gc_close_superseded", ns, ids, closed)
        done.update(closed)
    return done


# orphan entities -------------------------------------------------------------------------
async def clean_orphans(ctx: ServiceContext, caller: Caller, r: OrphanReport) -> None:
    """Delete entities nothing refers to, untouched for longer than the grace period."""
    days = ctx.gc.orphan_grace_days
    cutoff = r.at - timedelta(days=days)
    after: str | None = None
    while page := await ctx.upkeep.orphan_entities(cutoff, after, ctx.gc.batch_size):
        after = page[-1].id
        r.seen += len(page)
        done = {e.id for e in page}
        if not r.dry_run:
            done = set()
            groups: dict[str, list[Entity]] = defaultdict(list)
            for e in page:
                groups[e.namespace].append(e)
            for ns, group in groups.items():
                ids = [e.id for e in group]
                gone = await ctx.upkeep.delete_orphan_entities(ids, cutoff, [ctx.audit(
                    caller, "gc_delete_orphans", namespace=ns, target_ids=ids,
                    detail="entities: " + ", ".join(e.name for e in group)[:400])])
                await audit_skipped(ctx, caller, "gc_delete_orphans", ns, ids, gone)
                done.update(gone)
        for e in page:
            if e.id in done:
                r.deleted += 1
                idle = (r.at - e.updated_at).total_seconds() / 86400.0
                r.add(GcItem(id=e.id, action="delete_entity", namespace=e.namespace,
                             kind=e.entity_type, age_days=round(idle, 3), text=e.name,
                             reason=f"no observations, relations or memories; untouched "
                                    f"{idle:.1f} days (> {days:g})"), ctx.gc.report_max_items)


# reconcile -------------------------------------------------------------------------------
