"""Each job run through `fleetmem.gc.jobs` updates the GC metrics."""

from __future__ import annotations

import pytest

from fleetmem.gc.jobs import job_names, run_job
from fleetmem.gc.metrics import REGISTRY
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Forbidden, InvalidInput
from fleetmem.memory.services.inputs import MemoryInput
from tests.conftest import ManualClock, ServiceFactory


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_runs_and_items_are_counted(make_service: ServiceFactory) -> None:
    clock = ManualClock()
    service = await make_service(clock=clock)
    await service.remember(Caller("alice"), MemoryInput(
        text="Lunch order for the offsite was pizza", kind="episode", importance=0.0))
    clock.advance(days=365)
    before = {k: sample(f"fleetmem_gc_{k}", job="decay", **extra) for k, extra in (
        ("runs_total", {"outcome": "ok"}), ("items_total", {"action": "archived"}))}
    dry_before = sample("fleetmem_gc_runs_total", job="decay", outcome="dry_run")
    seen_before = sample("fleetmem_gc_items_seen_total", job="decay")

    await run_job(service, "decay", dry_run=True)
    report = await run_job(service, "decay")
    assert report.archived == 1
    assert sample("fleetmem_gc_runs_total", job="decay", outcome="dry_run") == dry_before + 1
    assert sample("fleetmem_gc_runs_total", job="decay", outcome="ok") == \
        before["runs_total"] + 1
    assert sample("fleetmem_gc_items_total", job="decay", action="archived") == \
        before["items_total"] + 1
    assert sample("fleetmem_gc_items_seen_total", job="decay") == seen_before + report.seen
    assert sample("fleetmem_gc_run_duration_seconds_count", job="decay") >= 1
    assert sample("fleetmem_gc_last_run_timestamp_seconds", job="decay") > 0

    errors = sample("fleetmem_gc_runs_total", job="purge", outcome="error")
    with pytest.raises(Forbidden):
        await run_job(service, "purge", caller=Caller("alice"))
    assert sample("fleetmem_gc_runs_total", job="purge", outcome="error") == errors + 1


def test_job_names() -> None:
    assert job_names(None)[0] == "buffers" and job_names("purge") == ["purge"]
    with pytest.raises(InvalidInput, match="unknown GC job"):
        job_names("vacuum")
