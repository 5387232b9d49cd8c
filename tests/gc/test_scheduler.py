"""The GC scheduler: schedule parsing, slot computation, and several replicas on one
shared store running each job slot exactly once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetmem.gc.scheduler import GcScheduler, gc_background, parse_schedule, slot_time
from fleetmem.memory.agents import load_policy
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import GcSettings
from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.conftest import ManualClock

ONLY_DECAY = {f"{job}_schedule": "off" for job in
              ("purge", "buffers", "superseded", "orphans", "reconcile")}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_schedules_parse_or_say_what_is_wrong() -> None:
    assert parse_schedule("off", "decay") is None
    assert parse_schedule("every 6h", "decay") is not None
    assert parse_schedule("cron 30 3 * * *", "purge") is not None
    for bad in ("every 0s", "daily", "cron 61 * * * *", "every 5 weeks"):
        with pytest.raises(InvalidInput, match="schedule"):
            parse_schedule(bad, "decay")


def test_slot_is_the_fire_time_now_due() -> None:
    every = parse_schedule("every 6h", "decay")
    cron = parse_schedule("cron 30 3 * * *", "purge")
    assert every is not None and cron is not None
    assert slot_time(every, at("2026-01-01T06:00:09"), 600) == at("2026-01-01T06:00:00")
    assert slot_time(every, at("2026-01-01T07:00:00"), 600) is None  # outside the grace
    assert slot_time(every, at("2026-01-01T07:00:00"), 7200) == at("2026-01-01T06:00:00")
    assert slot_time(cron, at("2026-01-02T03:31:00"), 600) == at("2026-01-02T03:30:00")
    quick = parse_schedule("every 1s", "decay")
    assert quick is not None
    assert slot_time(quick, at("2026-01-01T00:00:05.5"), 600) == at("2026-01-01T00:00:05")


async def replicas(tmp_path: Path, embedder: Embedder,
                   agents_file: Path) -> AsyncIterator[list[MemoryService]]:
    """Two services sharing one SQLite graph file, each with its own vector index."""
    made = []
    for name in ("a", "b"):
        ctx = ServiceContext(
            graph=SqliteGraphStore(tmp_path / "shared.sqlite3"),
            vectors=EdgeVectorIndex(tmp_path / f"vectors-{name}", embedder.dimension),
            embedder=embedder, policy=load_policy(agents_file, "local"), clock=ManualClock())
        service = MemoryService(ctx)
        await service.start()
        made.append(service)
    yield made
    for service in made:
        await service.close()


@pytest.fixture
async def two(tmp_path: Path, embedder: Embedder,
              agents_file: Path) -> AsyncIterator[list[MemoryService]]:
    async for made in replicas(tmp_path, embedder, agents_file):
        yield made


async def test_two_replicas_firing_one_slot_run_it_once(two: list[MemoryService]) -> None:
    fixed = at("2026-03-01T12:00:03")
    settings = GcSettings(decay_schedule="every 1m")
    schedulers = [GcScheduler(s, settings, owner=f"replica-{i}", now=lambda: fixed)
                  for i, s in enumerate(two)]
    reports = await asyncio.gather(*(s.fire("decay") for s in schedulers))
    assert sorted(r.skipped is None for r in reports) == [False, True]
    assert {r.slot for r in reports} == {"2026-03-01T12:00:00+00:00"}
    # the next slot is free again
    later = GcScheduler(two[1], settings, owner="replica-1", now=lambda: at("2026-03-01T12:01:01"))
    assert (await later.fire("decay")).skipped is None


async def test_two_live_schedulers_run_each_slot_once(two: list[MemoryService]) -> None:
    settings = GcSettings(decay_schedule="every 1s", **ONLY_DECAY)
    schedulers = [GcScheduler(s, settings, owner=f"replica-{i}") for i, s in enumerate(two)]
    assert all(set(s.triggers) == {"decay"} for s in schedulers)
    for s in schedulers:
        s.start()
    try:
        for _ in range(300):  # until each replica fired 3 times (bounded wait, no timing check)
            if all(len(s.reports) >= 3 for s in schedulers):
                break
            await asyncio.sleep(0.05)
    finally:
        for s in schedulers:
            await s.stop()
    assert all(len(s.reports) >= 3 for s in schedulers)
    by_slot: dict[str | None, list[bool]] = defaultdict(list)
    for s in schedulers:
        for r in s.reports:
            by_slot[r.slot].append(r.skipped is None)
    assert all(ran.count(True) == 1 for ran in by_slot.values()), by_slot
    assert any(len(ran) == 2 for ran in by_slot.values())  # both replicas fired that slot


async def test_background_hook_is_registered_and_respects_enabled(
        two: list[MemoryService]) -> None:
    from fleetmem.cli.composition import background_work
    from fleetmem.memory.settings import Settings

    assert gc_background in background_work()
    async with gc_background(None, two[0], Settings(gc=GcSettings(enabled=False))):
        pass
    async with gc_background(None, two[0], Settings(gc=GcSettings(**ONLY_DECAY))):
        await asyncio.sleep(0)
