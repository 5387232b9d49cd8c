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
    """Hash vectors (deterministic, unit length); once armed, the next call waits for
    `release` so the test can queue work behind it. Records every call's texts."""

    dimension = 384
    model_name = "gated-hash"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.armed = False
        self.running = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        if self.armed:
            self.armed = False
            self.running.set()
            self.release.wait(30)
        rows = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


async def test_a_recall_waits_for_one_chunk_of_a_flooding_agent_not_its_queue(
        tmp_path: Path, agents_file: Path) -> None:
    model = GatedEmbedder()
    service = build_service(Settings(data_dir=tmp_path / "data", agents_file=agents_file),
                            embedder=model)
    await service.start()
    try:
        model.armed = True
        warm = asyncio.create_task(service.remember(Caller("carol"),
                                                    MemoryInput(text="held up")))
        await asyncio.to_thread(model.running.wait, 10)  # the model is now busy
        base = service.ctx.embed_calls
        long_text = "billing ledger entry " * 60  # ~1,200 characters: the model's cap
        flood = [asyncio.create_task(service.remember_batch(
            Caller("alice"), [MemoryInput(text=f"{n}-{i} {long_text}") for i in range(240)]))
            for n in range(2)]
        while service.ctx.embed_calls < base + 2 * 4:  # both batches queued all their chunks
            await asyncio.sleep(0.005)
        before = len(model.calls)
        recall = asyncio.create_task(service.recall(Caller("bob"), RecallQuery(query=QUESTION)))
        while service.ctx.embed_calls < base + 2 * 4 + 1:
            await asyncio.sleep(0.005)
        model.release.set()
        await warm
        await recall
        answered_in = next(i for i, call in enumerate(model.calls) if QUESTION in call)
        assert not all(task.done() for task in flood)
        # The question went in the first model call after the one already running: at
        # most one chunk of the flood's 480 texts was encoded ahead of it.
        ahead = sum(len(call) for call in model.calls[before:answered_in])
        assert answered_in <= before + 1, f"{ahead} flood texts were encoded first"
        for task in flood:
            assert len(await task) == 240
        # Bulk calls respect the cost budget: a few long texts per call, not 64.
        assert max(len(call) for call in model.calls[before:]) <= 8
    finally:
        model.release.set()
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
