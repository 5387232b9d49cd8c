"""The generic idempotency helper of the service layer, on real embedded stores."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import TypeAdapter

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, InvalidInput
from fleetmem.memory.services.runtime.idempotency import once
from fleetmem.memory.services.service import MemoryService

INT = TypeAdapter(int)
ALICE = Caller("alice")


async def test_a_retry_returns_the_first_result_without_running_again(
        service: MemoryService) -> None:
    runs: list[int] = []

    async def call() -> int:
        runs.append(1)
        return len(runs) * 10

    first = await once(service.ctx, ALICE, "k1", "op", {"a": 1}, call, INT)
    again = await once(service.ctx, ALICE, "k1", "op", {"a": 1}, call, INT)
    assert first == again == 10 and len(runs) == 1
    other_agent = await once(service.ctx, Caller("bob"), "k1", "op", {"a": 1}, call, INT)
    other_op = await once(service.ctx, ALICE, "k1", "op2", {"a": 1}, call, INT)
    no_key = await once(service.ctx, ALICE, None, "op", {"a": 1}, call, INT)
    assert (other_agent, other_op, no_key) == (20, 30, 40)


async def test_a_key_reused_for_another_request_or_malformed_is_refused(
        service: MemoryService) -> None:
    async def call() -> int:
        return 1

    await once(service.ctx, ALICE, "k2", "op", {"a": 1}, call, INT)
    with pytest.raises(InvalidInput) as reuse:
        await once(service.ctx, ALICE, "k2", "op", {"a": 2}, call, INT)
    assert reuse.value.rule == "idempotency_key_reuse"
    for bad in ("", "has space", "x" * 256, "tab\t"):
        with pytest.raises(InvalidInput) as malformed:
            await once(service.ctx, ALICE, bad, "op", {}, call, INT)
        assert malformed.value.rule == "idempotency_key_format"


async def test_a_failed_call_is_not_stored_and_a_concurrent_duplicate_is_409(
        service: MemoryService) -> None:
    async def fail() -> int:
        raise InvalidInput("nope", field="x", rule="r")

    with pytest.raises(InvalidInput):
        await once(service.ctx, ALICE, "k3", "op", {}, fail, INT)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        started.set()
        await release.wait()
        return 7

    first = asyncio.create_task(once(service.ctx, ALICE, "k3", "op", {}, slow, INT))
    await started.wait()  # the first request holds the key and is still running
    with pytest.raises(Conflict) as busy:
        await once(service.ctx, ALICE, "k3", "op", {}, slow, INT)
    assert busy.value.rule == "idempotency_in_flight"
    release.set()
    assert await first == 7
    assert await once(service.ctx, ALICE, "k3", "op", {}, fail, INT) == 7
