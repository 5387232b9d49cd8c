"""Fair work between agents (issue 21): one agent's bulk batches do not hold another's
recall, and the size-aware `texts_per_minute` limit counts every text of a batch.

Real embedded stores; the embedder of the first test is a deterministic stand-in (hash
vectors, a gate on the first call) so the queue's order, not timing, is what is checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import RateLimited
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import Settings
from tests.conftest import ManualClock, ServiceFactory

QUESTION = "who owns the billing service?"


class GatedEmbedder:
    """Hash vectors (deterministic, unit length). While `bulk_held` is clear, every call
    of more than 4 texts (a bulk call) waits on it, so the test controls when bulk work
    may finish. Records every call's texts."""

    dimension = 384
    model_name = "gated-hash"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.bulk_running = threading.Event()
        self.bulk_released = threading.Event()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        if len(texts) > 4:
            self.bulk_running.set()
            self.bulk_released.wait(60)
        rows = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


async def test_a_recall_is_answered_while_a_flooding_agents_model_call_runs(
        tmp_path: Path, agents_file: Path) -> None:
    """Alice floods with batches of long texts; the bulk model call in progress is held
    (as a slow encode would be). Bob's recall and carol's short remember are answered
    meanwhile: they are encoded on the interactive model thread, never behind bulk work.
    Alice's second batch waits for her first (one batch of an agent at a time) instead of
    queueing its chunks in front of anyone."""
    model = GatedEmbedder()
    service = build_service(Settings(data_dir=tmp_path / "data", agents_file=agents_file),
                            embedder=model)
    await service.start()
    try:
        long_text = "billing ledger entry " * 60  # ~1,200 characters: the model's cap
        flood = [asyncio.create_task(service.remember_batch(
            Caller("alice"), [MemoryInput(text=f"{n}-{i} {long_text}") for i in range(240)]))
            for n in range(2)]
        await asyncio.to_thread(model.bulk_running.wait, 10)  # the bulk thread is busy
        bulk_calls = len(model.calls)
        assert service.ctx.work_share.waiting("alice") == 2  # one running, one in her queue
        await asyncio.wait_for(service.recall(Caller("bob"), RecallQuery(query=QUESTION)), 10)
        written = await asyncio.wait_for(
            service.remember(Caller("carol"), MemoryInput(text="short note")), 10)
        assert written.id
        assert not any(task.done() for task in flood)
        assert len(model.calls) == bulk_calls + 2  # the question and the note only
        model.bulk_released.set()
        for task in flood:
            assert len(await task) == 240
        # Bulk calls respect the cost budget: a few long texts per call, not 64.
        assert max(len(call) for call in model.calls) <= 8
        assert service.ctx.work_share.waiting("alice") == 0
    finally:
        model.bulk_released.set()
        await service.close()


async def test_texts_per_minute_refuses_a_batch_clearly_and_spares_other_agents(
        make_service: ServiceFactory) -> None:
    clock = ManualClock()
    service = await make_service(clock=clock)
    bulk, bob = Caller("bulk"), Caller("bob")  # bulk's role: texts_per_minute 10

    def batch(n: int, tag: str) -> list[MemoryInput]:
        return [MemoryInput(text=f"{tag} note {i} about the nightly import") for i in range(n)]

    assert len(await service.remember_batch(bulk, batch(8, "first"))) == 8
    with pytest.raises(RateLimited) as limited:  # one request, but 4 texts: 2 are left
        await service.remember_batch(bulk, batch(4, "second"))
    assert limited.value.rule == "texts_per_minute"
    assert limited.value.retry_after == 12.0  # 2 more texts at 10 per 60 s
    assert "10 embedded texts per minute" in limited.value.message
    assert "this request holds 4" in limited.value.message
    with pytest.raises(RateLimited) as too_big:
        await service.remember_batch(bulk, batch(15, "huge"))
    assert "split it into requests of at most 10 texts" in too_big.value.message
    stats = await service.ctx.audit_log.stats(["agent:bulk"])
    assert stats[0].memories_by_status.get("active") == 8  # nothing of the refusals stored

    # Another agent is not touched by bulk's budget, whatever its batch sizes.
    assert len(await service.remember_batch(bob, batch(40, "bob"))) == 40
    assert (await service.recall(bob, RecallQuery(query="nightly import"))).hits

    for _ in range(2):  # a recall's question counts too
        await service.recall(bulk, RecallQuery(query="nightly import"))
    with pytest.raises(RateLimited):
        await service.recall(bulk, RecallQuery(query="nightly import"))
    clock.advance(seconds=24)
    assert len(await service.remember_batch(bulk, batch(4, "second"))) == 4
    assert service.ctx.governor.usage_of("bulk").rate_limited == 3
