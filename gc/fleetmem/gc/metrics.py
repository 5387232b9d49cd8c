"""Prometheus metrics of the GC job runs, in their own registry.

`REGISTRY` is a collector itself: the REST door's /metrics can include it with
`registry.register(fleetmem.gc.metrics.REGISTRY)`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fleetmem.memory.services import GcReport

REGISTRY = CollectorRegistry(auto_describe=True)

RUNS = Counter("fleetmem_gc_runs", "GC job runs by outcome (ok, dry_run, skipped, error, "
               "missed)", ["job", "outcome"], registry=REGISTRY)
SEEN = Counter("fleetmem_gc_items_seen", "Candidates examined by real GC runs", ["job"],
               registry=REGISTRY)
ITEMS = Counter("fleetmem_gc_items", "Items acted on by real GC runs (archived, purged, "
                "expired, closed, deleted, reindexed, dropped, ...)", ["job", "action"],
                registry=REGISTRY)
DURATION = Histogram("fleetmem_gc_run_duration_seconds", "Duration of GC job runs", ["job"],
                     registry=REGISTRY,
                     buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600))
LAST_RUN = Gauge("fleetmem_gc_last_run_timestamp_seconds",
                 "Unix time a real run of the job last finished", ["job"], registry=REGISTRY)


def record(report: GcReport) -> None:
    """Count one finished run (a dry run counts only as a run: it changed nothing)."""
    if report.skipped is not None:
        RUNS.labels(report.job, "skipped").inc()
        return
    if report.dry_run:
        RUNS.labels(report.job, "dry_run").inc()
        return
    RUNS.labels(report.job, "ok").inc()
    SEEN.labels(report.job).inc(report.seen)
    for action, n in report.counts().items():
        if action != "seen" and n:
            ITEMS.labels(report.job, action).inc(n)
    DURATION.labels(report.job).observe(report.duration_seconds)
    LAST_RUN.labels(report.job).set_to_current_time()


def record_failure(job: str, outcome: str = "error") -> None:
    """Count a run that raised, or one the scheduler missed or refused to overlap."""
    RUNS.labels(job, outcome).inc()
