"""Keeping the two tiers in step: the graph is the source of truth, the vector tier an
index of its indexable memories. `repair` runs at every start (finish or roll back
half-done writes, then `align` when the counts differ); `reconcile_job` is the scheduled
GC job that reports and aligns the differences.

Writes change the tiers in two steps, so a comparison of the two finds writes in flight
as differences. Those are only candidates: each chunk of them is re-checked against both
tiers and fixed while holding the tier gate exclusively (every write holds it shared
across its two steps, see `runtime.tiergate`), so in this process a committed memory's
vector is never dropped and an archived one is never re-created. The vector ids are read
before the graph's, and a missing vector is re-created at once. For writes of other
processes on the same graph (the gate is in-process): a re-created vector is checked
against the graph again after it is written (forget and archive change the graph first,
then delete the vector, so one of the two removes it), and candidate extras are dropped
only after `gc.reconcile_settle_seconds`, long enough for a write in flight elsewhere to
commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fleetmem.memory import logs
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Memory, MemoryStatus
from fleetmem.memory.ports import Vector
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.progress import ProgressFn, no_progress
from fleetmem.memory.services.views.reports import GcItem, ReconcileReport

logger = logging.getLogger(__name__)

INDEXABLE = (MemoryStatus.ACTIVE, MemoryStatus.SUPERSEDED)
"""Statuses the vector tier holds (committed memories only)."""
CHUNK = 500
"""Candidates re-checked and fixed per exclusive hold of the tier gate."""


async def repair(ctx: ServiceContext) -> dict[str, int]:
    """Finish half-done writes and re-align the vector tier with the graph.

    Pending memories that carry a vector are finished (indexed and committed); those
    without one are rolled back. Then, when counts differ, missing vectors are re-indexed
    from the graph and vectors whose memory is gone are dropped.
    """
    started = time.perf_counter()
    finished = rolled_back = unindexable = 0
    while True:
        pending = await ctx.upkeep.pending_memories(500)
        if not pending:
            break
        done = await _index_pending(ctx, [(m, v) for m, v in pending if v is not None])
        drop = [m.id for m, v in pending if v is None]
        damaged = [m.id for m, v in pending if v is not None and m.id not in done]
        if done:
            events = [ctx.audit(Caller(agent_id="system:repair"), "repair_commit",
                                namespace=m.namespace, target_ids=[m.id])
                      for m, _ in pending if m.id in done]
            await ctx.upkeep.mark_committed(list(done), events)
            finished += len(done)
        if drop or damaged:
            # never acknowledged (still pending), so rolling back loses nothing promised
            await ctx.upkeep.delete_pending([*drop, *damaged])
            rolled_back += len(drop)
            unindexable += len(damaged)
    report = {"finished": finished, "rolled_back": rolled_back, "unindexable": unindexable}
    report.update(await align(ctx, force=False))
    seconds = time.perf_counter() - started
    fixed = any(report.values())
    logs.event(logger, "store_repair",
               f"store repair at start: {', '.join(f'{k} {v}' for k, v in report.items())} "
               f"in {seconds:.3f}s", level=logging.WARNING if fixed else logging.INFO,
               outcome="repaired" if fixed else "clean", counts=report,
               duration_seconds=round(seconds, 6))
    return report


async def _index_pending(ctx: ServiceContext,
                         pending: list[tuple[Memory, Vector]]) -> set[str]:
    """Index pending memories; the ids the vector tier took. One batch, and when the batch
    fails, one at a time, so that a damaged row (a vector of the wrong size, text the
    index refuses) is reported and rolled back instead of stopping every start."""
    if not pending:
        return set()
    try:
        await ctx.vectors.upsert([ctx.point(m, v) for m, v in pending])
        return {m.id for m, _ in pending}
    except Exception:  # noqa: BLE001 - sorted out row by row below
        logger.warning("repair: indexing %d pending memories failed; retrying one by one",
                       len(pending))
    took: set[str] = set()
    for m, v in pending:
        try:
            await ctx.vectors.upsert([ctx.point(m, v)])
            took.add(m.id)
        except Exception as exc:  # noqa: BLE001 - reported, then rolled back
            logger.error("repair: pending memory %s cannot be indexed (%s); rolling it back "
                         "(it was never acknowledged)", m.id, exc)
    return took


async def align(ctx: ServiceContext, *, force: bool = True,
                dry_run: bool = False) -> dict[str, int]:
    """Make the vector tier hold exactly the graph's indexable memories (writes in flight
    excepted: they finish on their own)."""
    if not force and await ctx.upkeep.count_indexable() == await ctx.vectors.count():
        return {"reindexed": 0, "dropped": 0}
    diff = await differences(ctx)
    if dry_run:
        return {"reindexed": len(diff.missing), "dropped": len(diff.extra)}
    reindexed, dropped = await fix(ctx, diff)
    return {"reindexed": len(reindexed), "dropped": len(dropped)}


@dataclass(frozen=True, slots=True)
class Differences:
    """Candidate differences between the tiers (writes in flight included), and how many
    ids either tier holds."""

    missing: list[str]
    extra: list[str]
    seen: int


async def differences(ctx: ServiceContext) -> Differences:
    """The vector tier's ids first, then the graph's: a write that finishes in between
    shows as missing (re-checked, then left alone) rather than as extra."""
    have = await ctx.vectors.all_ids()
    want = await ctx.upkeep.indexable_ids()
    return Differences(sorted(want - have), sorted(have - want), len(want | have))


async def fix(ctx: ServiceContext, diff: Differences,
              progress: ProgressFn = no_progress) -> tuple[list[str], list[str]]:
    """Re-check and fix the candidates chunk by chunk; the ids re-indexed and dropped.
    `progress` hears the candidates done ("re-index", "drop") after each chunk."""
    reindexed: list[str] = []
    dropped: list[str] = []
    for start in range(0, len(diff.missing), CHUNK):
        reindexed += await _reindex(ctx, diff.missing[start:start + CHUNK])
        progress("re-index", min(start + CHUNK, len(diff.missing)), len(diff.missing))
    if diff.extra and ctx.gc.reconcile_settle_seconds > 0:
        await asyncio.sleep(ctx.gc.reconcile_settle_seconds)  # see the module docstring
    for start in range(0, len(diff.extra), CHUNK):
        dropped += await _drop(ctx, diff.extra[start:start + CHUNK])
        progress("drop", min(start + CHUNK, len(diff.extra)), len(diff.extra))
    return reindexed, dropped


async def _indexable(ctx: ServiceContext, ids: Sequence[str],
                     namespaces: Sequence[str]) -> dict[str, Memory]:
    """The committed memories among `ids` that belong in the vector tier."""
    return {m.id: m for m in await ctx.memories.get_memories(ids, namespaces)
            if m.status in INDEXABLE}


async def _reindex(ctx: ServiceContext, ids: list[str]) -> list[str]:
    """Re-create the vectors of those of `ids` that the graph still wants and the vector
    tier still lacks (both read under the gate); the ids re-created."""
    async with ctx.tier_gate.exclusive():
        namespaces = await ctx.upkeep.all_namespaces()
        present = await ctx.vectors.existing(ids)
        wanted = await _indexable(ctx, [i for i in ids if i not in present], namespaces)
        vectors = await ctx.memories.get_vectors(list(wanted))
        memories = [m for m in wanted.values() if m.id in vectors]
        if not memories:
            return []
        await ctx.vectors.upsert([ctx.point(m, vectors[m.id]) for m in memories])
        # Another process may have archived, closed or purged one since the read above (it
        # changes the graph first, then the vector): read again and follow the graph.
        now = await _indexable(ctx, [m.id for m in memories], namespaces)
        gone = [m.id for m in memories if m.id not in now]
        moved = [now[m.id] for m in memories if m.id in now and now[m.id].status != m.status]
        if gone:
            await ctx.vectors.delete(gone)
        if moved:
            await ctx.vectors.upsert([ctx.point(m, vectors[m.id]) for m in moved])
    return [m.id for m in memories if m.id not in gone]


async def _drop(ctx: ServiceContext, ids: list[str]) -> list[str]:
    """Drop the vectors of those of `ids` that the vector tier still holds and the graph
    neither wants nor holds as a pending write (both read under the gate); the ids
    dropped."""
    async with ctx.tier_gate.exclusive():
        present = sorted(await ctx.vectors.existing(ids))
        if not present:
            return []
        namespaces = await ctx.upkeep.all_namespaces()
        kept = set(await _indexable(ctx, present, namespaces))
        # Rows of an unfinished write (stores of earlier versions): the startup repair
        # finishes or rolls them back, never this job.
        kept |= {m.id for m, _ in await ctx.upkeep.pending_memories(100_000)}
        drop = [i for i in present if i not in kept]
        if drop:
            await ctx.vectors.delete(drop)
    return drop


async def reconcile_job(ctx: ServiceContext, caller: Caller, r: ReconcileReport,
                        progress: ProgressFn = no_progress) -> None:
    """The scheduled job: list the differences between the tiers, then fix those that are
    still differences when re-checked (writes in flight are left to finish)."""
    diff = await differences(ctx)
    r.seen = diff.seen
    missing, extra = diff.missing, diff.extra
    if r.dry_run:
        r.reindexed, r.dropped = len(missing), len(extra)
    else:
        missing, extra = await fix(ctx, diff, progress)
        r.reindexed, r.dropped = len(missing), len(extra)
        r.in_flight = len(diff.missing) + len(diff.extra) - r.reindexed - r.dropped
        r.indexed = await ctx.vectors.build_index(ctx.index_min_unindexed)
        if r.reindexed or r.dropped:
            await ctx.audit_log.append_audit([ctx.audit(
                caller, "gc_reconcile", detail=f"reindexed {r.reindexed}, "
                f"dropped {r.dropped} vectors")])
    for mid in missing:
        r.add(GcItem(id=mid, action="reindex",
                     reason="indexable in the graph but missing from the vector tier"),
              ctx.gc.report_max_items)
    for mid in extra:
        r.add(GcItem(id=mid, action="drop",
                     reason="in the vector tier but no indexable memory in the graph"),
              ctx.gc.report_max_items)
