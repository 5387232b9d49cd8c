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

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from fleetmem.memory import logs
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.domain.text import validate_id
from fleetmem.memory.errors import Conflict, NotFound
from fleetmem.memory.services.maintenance import decay, reconcile, tidy
from fleetmem.memory.services.memories.lifecycle import restored_status
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.operations import GC_AGENT
from fleetmem.memory.services.runtime.progress import ProgressFn, no_progress
from fleetmem.memory.services.views.records import MemoryView
from fleetmem.memory.services.views.reports import (
    BufferExpiryReport,
    CloseSupersededReport,
    DecayReport,
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
    """Claim the slot (real runs only), run the body, time it and log one line of the run
    (the caller was authorised by the `OperatorService` method's declaration)."""
    started = time.perf_counter()
    if slot is not None:
        report.slot = slot.key
        if not report.dry_run and not await ctx.upkeep.claim_job_slot(
                report.job, slot.key, slot.owner, report.at):
            report.skipped = f"slot {slot.key} was already claimed by another runner"
            _log_run(report, "skipped", time.perf_counter() - started,
                     f"slot {slot.key} claimed elsewhere")
            return report
    try:
        await body(ctx, caller, report)
    except Exception as exc:
        _log_run(report, "error", time.perf_counter() - started,
                 f"{type(exc).__name__}: {exc}")
        raise
    report.duration_seconds = round(time.perf_counter() - started, 6)
    _log_run(report, "dry_run" if report.dry_run else "ok", report.duration_seconds)
    return report


def _log_run(report: GcReport, outcome: str, seconds: float, why: str | None = None) -> None:
    """One line per job run: job, outcome (ok, dry_run, skipped, error; the labels of
    `fleetmem_gc_runs_total`), counts, duration and the scheduled slot (a JSON field, so
    operators can see each slot ran once across replicas); the caller's ids come with
    the call."""
    counts = report.counts()
    shown = ", ".join(f"{k} {v}" for k, v in counts.items())
    message = f"gc {report.job}: {outcome}" + (f" ({why})" if why else "") + \
        (f", {shown}" if outcome in ("ok", "dry_run") else "") + f" in {seconds:.3f}s"
    logs.event(logger, "gc_run", message,
               level=logging.ERROR if outcome == "error" else logging.INFO,
               job=report.job, outcome=outcome, counts=counts,
               duration_seconds=round(seconds, 6), errors=len(report.errors),
               **({"reason": why} if why else {}),
               **({"slot": report.slot} if report.slot else {}))


# decay sweep ---------------------------------------------------------------------------
async def decay_sweep(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                      slot: JobSlot | None = None) -> DecayReport:
    """Archive active, unpinned memories whose retention fell below the threshold:
    out of the vector tier and recall, kept in the graph, restorable."""
    report = DecayReport(job="decay", dry_run=dry_run, at=ctx.now(),
                         threshold=ctx.gc.archive_threshold)
    return await _run(ctx, caller, report, slot, decay.sweep)


# purge -----------------------------------------------------------------------------------
async def purge(ctx: ServiceContext, caller: Caller, *, dry_run: bool = False,
                slot: JobSlot | None = None) -> PurgeReport:
    """Hard-delete memories archived for longer than the retention period, only in
    namespaces the purge policy allows (never pinned ones); the audit records each."""
    report = PurgeReport(job="purge", dry_run=dry_run, at=ctx.now())
    return await _run(ctx, caller, report, slot, decay.purge_archived)


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
    async with ctx.namespace_lock(memory.namespace), ctx.tier_gate.shared():  # like forget
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
                          slot: JobSlot | None = None,
                          progress: ProgressFn = no_progress) -> ReconcileReport:
    """Re-index memories missing from the vector tier; drop vectors whose memory is gone."""
    report = ReconcileReport(job="reconcile", dry_run=dry_run, at=ctx.now())
    return await _run(ctx, caller, report, slot,
                      functools.partial(reconcile.reconcile_job, progress=progress))
