"""The tier gate: writes share it, a tier comparison holds it alone, and a waiting
comparison is not starved by a stream of writes."""

from __future__ import annotations

import asyncio

import pytest

from fleetmem.memory.services.runtime.tiergate import TierGate


async def test_exclusive_waits_for_every_shared_holder_and_blocks_new_ones() -> None:
    gate, log = TierGate(), []
    release = asyncio.Event()

    async def write(name: str) -> None:
        async with gate.shared():
            log.append(f"{name} in")
            await release.wait()
            log.append(f"{name} out")

    async def check() -> None:
        async with gate.exclusive():
            log.append("check")

    first = asyncio.create_task(write("a"))
    await asyncio.sleep(0.01)
    checking = asyncio.create_task(check())
    await asyncio.sleep(0.01)
    late = asyncio.create_task(write("b"))  # arrives while the check waits
    await asyncio.sleep(0.01)
    assert log == ["a in"]
    release.set()
    await asyncio.gather(first, checking, late)
    assert log == ["a in", "a out", "check", "b in", "b out"]


async def test_shared_holders_run_together_and_nest() -> None:
    gate = TierGate()
    inside = 0
    peak = 0

    async def write() -> None:
        nonlocal inside, peak
        async with gate.shared(), gate.shared():  # nested: no self-deadlock
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(write() for _ in range(5)))
    assert peak == 5


async def test_a_cancelled_exclusive_waiter_lets_writes_through() -> None:
    gate = TierGate()
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.shared():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.01)

    async def check() -> None:
        async with gate.exclusive():
            pass

    waiting = asyncio.create_task(check())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    async with asyncio.timeout(1):
        async with gate.shared():
            pass
    release.set()
    await holder


async def test_exclusive_inside_shared_is_refused() -> None:
    gate = TierGate()
    async with gate.shared():
        with pytest.raises(RuntimeError):
            async with gate.exclusive():
                pass
