"""Keeping the two tiers in step: the graph is the source of truth, the vector tier an
index of its indexable memories. `repair` runs at every start (finish or roll back
half-done writes, then `align` when the counts differ); `reconcile_job` is the scheduled
GC job that reports and aligns the differences.
"""

from __future__ import annotations

import logging

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Memory
from fleetmem.memory.ports import Vector
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.reports import GcItem, ReconcileReport

logger = logging.getLogger(__name__)


async def repair(ctx: ServiceContext) -> dict[str, int]:
    """Finish half-done writes and re-align the vector tier with the graph.

    Pending memories that carry a vector are finished (indexed and committed); those
    without one are rolled back. Then, when counts differ, missing vectors are re-indexed
    from the graph and vectors whose memory is gone are dropped.
    """
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
    if finished or rolled_back or unindexable or report["reindexed"] or report["dropped"]:
        logger.warning("repair pass: %s", report)
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
    """Make the vector tier hold exactly the graph's indexable memories."""
    graph_count = await ctx.upkeep.count_indexable()
    vector_count = await ctx.vectors.count()
    if not force and graph_count == vector_count:
        return {"reindexed": 0, "dropped": 0}
    want = await ctx.upkeep.indexable_ids()
    have = await ctx.vectors.all_ids()
    missing, extra = sorted(want - have), sorted(have - want)
    if not dry_run:
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            vectors = await ctx.memories.get_vectors(chunk)
            memories = await ctx.memories.get_memories(chunk, await ctx.upkeep.all_namespaces())
            await ctx.vectors.upsert([ctx.point(m, vectors[m.id]) for m in memories
                                      if m.id in vectors])
        if extra:
            await ctx.vectors.delete(extra)
    return {"reindexed": len(missing), "dropped": len(extra)}


async def reconcile_job(ctx: ServiceContext, caller: Caller, r: ReconcileReport) -> None:
    """The scheduled job: list the differences between the tiers, then `align` them."""
    want = await ctx.upkeep.indexable_ids()
    have = await ctx.vectors.all_ids()
    missing, extra = sorted(want - have), sorted(have - want)
    r.seen = len(want | have)
    if r.dry_run:
        r.reindexed, r.dropped = len(missing), len(extra)
    else:
        counts = await align(ctx, force=True, dry_run=False)
        r.reindexed, r.dropped = counts["reindexed"], counts["dropped"]
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
