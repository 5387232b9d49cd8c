"""Idempotency as the service's write path applies it to every governed write method
(`@operation(..., WRITE)` with an `idempotency_key`), on real embedded stores."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, InvalidInput
from fleetmem.memory.services.runtime import idempotency
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import operation
from fleetmem.memory.services.runtime.operations import WRITE
from fleetmem.memory.services.service import MemoryService

ALICE = Caller("alice")


class Probe:
    """Two governed writes over the service's real context, counting their runs."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.runs = 0
        self.release: asyncio.Event | None = None
        self.started = asyncio.Event()

    @operation("remember", WRITE)
    async def write(self, caller: Caller, value: int, *, fail: bool = False,
                    idempotency_key: str | None = None) -> int:
        self.runs += 1
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        if fail:
            raise InvalidInput("nope", field="x", rule="r")
        return self.runs * 10

    @operation("remember", WRITE)
    async def other_write(self, caller: Caller, value: int, *,
                          idempotency_key: str | None = None) -> int:
        self.runs += 1
        return self.runs * 10


async def test_a_retry_returns_the_first_result_without_running_again(
        service: MemoryService) -> None:
    probe = Probe(service.ctx)
    first = await probe.write(ALICE, 1, idempotency_key="k1")
    again = await probe.write(ALICE, 1, idempotency_key="k1")
    assert first == again == 10 and probe.runs == 1
    other_agent = await probe.write(Caller("bob"), 1, idempotency_key="k1")
    no_key = await probe.write(ALICE, 1)
    assert (other_agent, no_key) == (20, 30)


async def test_a_key_reused_for_another_request_or_malformed_is_refused(
        service: MemoryService) -> None:
    probe = Probe(service.ctx)
    await probe.write(ALICE, 1, idempotency_key="k2")
    with pytest.raises(InvalidInput) as reuse:
        await probe.write(ALICE, 2, idempotency_key="k2")
    assert reuse.value.rule == "idempotency_key_reuse"
    # A key belongs to the agent, not to one operation: another method is a reuse too.
    with pytest.raises(InvalidInput) as other_method:
        await probe.other_write(ALICE, 1, idempotency_key="k2")
    assert other_method.value.rule == "idempotency_key_reuse"
    assert probe.runs == 1
    for bad in ("", "has space", "x" * 256, "tab\t"):
        with pytest.raises(InvalidInput) as malformed:
            await probe.write(ALICE, 1, idempotency_key=bad)
        assert malformed.value.rule == "idempotency_key_format"
    assert probe.runs == 1


async def test_a_failed_call_is_not_stored_and_a_concurrent_duplicate_is_409(
        service: MemoryService) -> None:
    probe = Probe(service.ctx)
    with pytest.raises(InvalidInput):
        await probe.write(ALICE, 1, fail=True, idempotency_key="k3")
    probe.release = asyncio.Event()
    probe.started.clear()
    first = asyncio.create_task(probe.write(ALICE, 1, idempotency_key="k3"))
    await probe.started.wait()  # the first request holds the key and is still running
    with pytest.raises(Conflict) as busy:
        await probe.write(ALICE, 1, idempotency_key="k3")
    assert busy.value.rule == "idempotency_in_flight"
    probe.release.set()
    assert await first == 20
    probe.release = None
    assert await probe.write(ALICE, 1, idempotency_key="k3") == 20


async def test_replays_count_against_the_request_rate_like_any_request(
        service: MemoryService) -> None:
    probe = Probe(service.ctx)
    await probe.write(ALICE, 1, idempotency_key="k4")
    before = service.ctx.governor.usage_of("alice").requests
    await probe.write(ALICE, 1, idempotency_key="k4")
    assert service.ctx.governor.usage_of("alice").requests == before + 1
    assert probe.runs == 1


async def test_a_running_request_renews_its_shared_claim(
        service: MemoryService, monkeypatch: pytest.MonkeyPatch) -> None:
    # The claim other replicas see is short (a dead replica's must end soon) and renewed
    # while the request runs: a request longer than the lease keeps its key.
    monkeypatch.setattr(idempotency, "CLAIM_SECONDS", 1)
    monkeypatch.setattr(idempotency, "RENEW_SECONDS", 0.2)
    probe = Probe(service.ctx)
    probe.release = asyncio.Event()
    first = asyncio.create_task(probe.write(ALICE, 1, idempotency_key="k5"))
    await probe.started.wait()
    await asyncio.sleep(1.6)  # past the first lease
    now = service.ctx.now()
    assert not await service.ctx.upkeep.claim_idempotency_key(
        "alice", "k5", "another-replica", now, now + timedelta(seconds=1))
    probe.release.set()
    assert await first == 10
    now = service.ctx.now()  # released at the end: the key is free (its result is stored)
    assert await service.ctx.upkeep.claim_idempotency_key(
        "alice", "k5", "another-replica", now, now + timedelta(seconds=1))
