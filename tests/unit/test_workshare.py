"""WorkShare: an agent's calls beyond its slots wait in its own queue, never another's."""

from __future__ import annotations

import asyncio

import pytest

from fleetmem.memory.services.runtime.workshare import WorkShare


async def _hold(share: WorkShare, agent: str, items: int, started: asyncio.Event,
                release: asyncio.Event) -> None:
    async with share.slot(agent, items):
        started.set()
        await release.wait()


async def test_an_agents_second_batch_waits_but_another_agents_batch_does_not() -> None:
    share = WorkShare(requests=16, batches=1)
    release = asyncio.Event()
    first, second, other = asyncio.Event(), asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(_hold(share, "alice", 240, first, release)),
             asyncio.create_task(_hold(share, "alice", 240, second, release)),
             asyncio.create_task(_hold(share, "bob", 240, other, release))]
    await asyncio.wait_for(first.wait(), 1)
    await asyncio.wait_for(other.wait(), 1)
    await asyncio.sleep(0.01)
    assert not second.is_set()
    assert share.waiting("alice") == 2
    async with share.slot("alice", 1):  # a single item is not a batch: not queued
        pass
    release.set()
    await asyncio.gather(*tasks)
    assert second.is_set()
    assert share.waiting("alice") == 0 and share.waiting("bob") == 0


async def test_requests_beyond_the_cap_wait_and_a_cancelled_waiter_frees_its_place() -> None:
    share = WorkShare(requests=2, batches=1)
    release = asyncio.Event()
    events = [asyncio.Event() for _ in range(3)]
    tasks = [asyncio.create_task(_hold(share, "alice", 1, e, release)) for e in events]
    await asyncio.sleep(0.01)
    assert [e.is_set() for e in events] == [True, True, False]
    tasks[2].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[2]
    assert share.waiting("alice") == 2
    release.set()
    await asyncio.gather(*tasks[:2])
    assert share.waiting("alice") == 0


async def test_zero_means_unlimited() -> None:
    share = WorkShare(requests=0, batches=0)
    release = asyncio.Event()
    events = [asyncio.Event() for _ in range(50)]
    tasks = [asyncio.create_task(_hold(share, "alice", 240, e, release)) for e in events]
    await asyncio.sleep(0.01)
    assert all(e.is_set() for e in events)
    release.set()
    await asyncio.gather(*tasks)
