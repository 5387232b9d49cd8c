"""Regression: a forget (or restore) that lands while a correction is between its graph
commit and its vector write must not leave the vector tier out of step with the graph.

Found by the concurrency suite: `correct` re-upserted the old version's point after a
concurrent `forget` had archived it and deleted that point, so the vector tier held an
archived memory (about 1 in 30 correct/forget races). The graph read that follows the
commit is slowed down here (a delay around the real store, nothing faked) so the forget
always lands inside that window.
"""

from __future__ import annotations

import asyncio

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.ports import Vector
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.maintenance.jobs import SYSTEM_CALLER
from fleetmem.memory.services.service import MemoryService
from tests.conftest import ServiceFactory

ALICE = Caller("alice")


def _slow_vector_reads(service: MemoryService, monkeypatch: pytest.MonkeyPatch
                       ) -> asyncio.Event:
    """Delay every `get_vectors` of the graph store; the event is set when one starts."""
    graph = service.ctx.graph
    real = graph.get_vectors
    started = asyncio.Event()

    async def slow(ids: list[str]) -> dict[str, Vector]:
        started.set()
        await asyncio.sleep(0.3)
        return await real(ids)

    monkeypatch.setattr(graph, "get_vectors", slow)
    return started


async def _tiers_agree(service: MemoryService) -> None:
    ctx = service.ctx
    assert await ctx.vectors.all_ids() == await ctx.graph.indexable_ids()


async def test_forget_during_a_correction_leaves_no_vector_behind(
        make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    service = await make_service()
    first = await service.remember(ALICE, MemoryInput(text="the build cache lives on host 7"))
    in_window = _slow_vector_reads(service, monkeypatch)
    correcting = asyncio.create_task(
        service.correct(ALICE, first.id, "the build cache lives on host 9"))
    await asyncio.wait_for(in_window.wait(), 30)  # the supersede has committed
    forgotten = await service.forget(ALICE, first.id)
    corrected = await correcting
    assert forgotten.status == "archived"
    assert (await service.get(ALICE, corrected.id)).supersedes == first.id
    await _tiers_agree(service)


async def test_forget_during_a_restore_leaves_no_vector_behind(
        make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    service = await make_service()
    written = await service.remember(ALICE, MemoryInput(text="the staging db is on port 5433"))
    await service.forget(ALICE, written.id)
    in_window = _slow_vector_reads(service, monkeypatch)
    restoring = asyncio.create_task(service.restore(ALICE, written.id))
    await asyncio.wait_for(in_window.wait(), 30)  # the restore has committed in the graph
    await service.forget(ALICE, written.id)
    await restoring
    assert (await service.get(ALICE, written.id)).status == "archived"
    await _tiers_agree(service)


async def test_a_forgotten_old_version_is_restored_into_history_not_made_current(
        make_service: ServiceFactory) -> None:
    """Forget then restore of a corrected version used to make it `active` again: two
    current versions in one chain, both recalled. It goes back to `superseded` now."""
    service = await make_service()
    old = await service.remember(ALICE, MemoryInput(text="the release train leaves at 10:00"))
    new = await service.correct(ALICE, old.id, "the release train leaves at 11:30")
    await service.forget(ALICE, old.id)
    assert (await service.restore(ALICE, old.id)).status == "superseded"
    await service.forget(ALICE, old.id)
    assert (await service.operator.gc_restore(SYSTEM_CALLER, old.id)).status == "superseded"
    chain = await service.history(ALICE, new.id)
    assert [(m.id, m.status) for m in chain] == [(old.id, "superseded"), (new.id, "active")]
    await _tiers_agree(service)
