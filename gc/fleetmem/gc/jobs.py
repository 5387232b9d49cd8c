"""The GC jobs by name: each is one service call, run as the system principal, with a
metric update and (inside the service) one log line per run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fleetmem.gc import metrics
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services import (
    SYSTEM_CALLER,
    Caller,
    GcReport,
    JobSlot,
    MemoryService,
    OperatorService,
    ProgressFn,
    no_progress,
)

JobCall = Callable[..., Awaitable[GcReport]]

# In the order `fleetmem gc run` runs them: consolidate buffers before anything decays,
# close superseded facts before the sweep, purge what is old enough, then tidy the graph
# and re-align the vector tier last.
JOBS: dict[str, JobCall] = {
    "buffers": OperatorService.gc_buffers,
    "superseded": OperatorService.gc_superseded,
    "decay": OperatorService.gc_decay,
    "purge": OperatorService.gc_purge,
    "orphans": OperatorService.gc_orphans,
    "reconcile": OperatorService.gc_reconcile,
}


def job_names(job: str | None) -> list[str]:
    """The jobs to run: the named one, or all of them in order.

    Raises:
        InvalidInput: an unknown job name.
    """
    if job is None:
        return list(JOBS)
    if job not in JOBS:
        raise InvalidInput(f"unknown GC job {job!r}; jobs: {', '.join(JOBS)}", field="job",
                           rule="enum")
    return [job]


async def run_job(service: MemoryService, job: str, *, dry_run: bool = False,
                  slot: JobSlot | None = None, caller: Caller = SYSTEM_CALLER,
                  progress: ProgressFn = no_progress) -> GcReport:
    """Run one job through its service method and record its metrics; `progress` hears
    the re-indexing of `reconcile` (the other jobs are short)."""
    call = JOBS[job_names(job)[0]]
    extra = {"progress": progress} if job == "reconcile" else {}
    finished = False
    try:
        report = await call(service.operator, caller, dry_run=dry_run, slot=slot, **extra)
        finished = True
    finally:
        if not finished:
            metrics.record_failure(job)
    metrics.record(report)
    return report
