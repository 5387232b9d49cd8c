"""kill -9 during batch writes, then restart: every acknowledged memory is recallable
exactly once and nothing half-written is visible."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import (
    Attribution,
    CommitState,
    Memory,
    MemoryKind,
    MemoryStatus,
)
from fleetmem.memory.domain.text import content_hash, new_id
from fleetmem.memory.errors import NotFound
from fleetmem.memory.ports import Embedder, MemoryFilter
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings
from tests.conftest import ServiceFactory

CYCLES = int(os.environ.get("FLEETMEM_CRASH_CYCLES", "3"))
ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(data_dir: Path, start: int, batches: int) -> list[tuple[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.crash_worker",
                             str(data_dir), str(start)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    acked: list[tuple[str, str]] = []
    seen = 0
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            msg = json.loads(line)
            if "acked" in msg:
                acked += [(i, t) for i, t in msg["acked"]]
                seen += 1
                if seen >= batches:
                    break
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-way through the next batch
        proc.wait(timeout=30)
    return acked


async def test_kill_9_during_batch_writes_loses_nothing_acknowledged(
        tmp_path: Path, make_service: ServiceFactory) -> None:
    data_dir = tmp_path / "crash"
    rng = random.Random(7)
    acked: list[tuple[str, str]] = []
    for cycle in range(CYCLES):
        acked += _run_and_kill(data_dir, cycle * 100_000, rng.randint(2, 6))
    assert acked, "the worker acknowledged nothing"

    service = await make_service(data_dir=data_dir)
    ctx = service.ctx
    caller = Caller("carol")
    assert await ctx.graph.pending_memories(10) == []
    all_ns = await ctx.graph.all_namespaces()
    visible = await ctx.graph.list_memories(
        MemoryFilter(namespaces=tuple(all_ns), statuses=(MemoryStatus.ACTIVE,)), None, 100_000)
    by_text: dict[str, int] = {}
    for m in visible:
        by_text[m.text] = by_text.get(m.text, 0) + 1
    # the vector tier holds exactly the graph's committed memories after repair
    assert await ctx.vectors.count() == await ctx.graph.count_indexable() == len(visible)
    for memory_id, text in acked:
        assert by_text.get(text) == 1, f"acknowledged memory {text!r} seen {by_text.get(text)}x"
        assert (await service.get(caller, memory_id)).text == text
    for memory_id, text in rng.sample(acked, min(10, len(acked))):
        hits = (await service.recall(caller, RecallQuery(query=text, k=3))).hits
        assert memory_id in [h.memory.id for h in hits]


async def test_a_damaged_pending_row_is_rolled_back_not_fatal(
        tmp_path: Path, embedder: Embedder, agents_file: Path) -> None:
    """A pending row the vector tier refuses (here a vector of the wrong size) must not
    stop every start: repair finishes the other pending rows and rolls that one back (it
    was never acknowledged)."""
    settings = Settings(data_dir=tmp_path / "damaged", agents_file=agents_file)
    first = build_service(settings, embedder=embedder)
    await first.start()
    caller = Caller("carol")
    try:
        kept = await first.remember(caller, MemoryInput(text="The audit log is kept 400 days"))
        good, bad = (_pending(first, "Backups run at 02:00 UTC every night"),
                     _pending(first, "The broken row of this test"))
        vector = (await first.ctx.embed([good.text]))[0]
        await first.ctx.graph.insert_memories([good, bad], [vector, vector[:17]])
    finally:
        await first.close()

    again = build_service(settings, embedder=embedder)
    try:
        report = await again.start()
        assert (report["finished"], report["unindexable"]) == (1, 1), report
        assert await again.ctx.graph.pending_memories(10) == []
        assert (await again.get(caller, good.id)).text == good.text
        with pytest.raises(NotFound):
            await again.get(caller, bad.id)
        assert (await again.get(caller, kept.id)).text == "The audit log is kept 400 days"
        hits = (await again.recall(caller, RecallQuery(query="when do backups run", k=3))).hits
        assert good.id in [h.memory.id for h in hits]
    finally:
        await again.close()


async def test_a_vector_whose_memory_never_committed_is_invisible_then_dropped(
        tmp_path: Path, embedder: Embedder, agents_file: Path) -> None:
    """The write path indexes the vector first and commits the memory after: a crash in
    between leaves a vector without a memory. Recall never returns it (hits are read
    through the graph) and the next start drops it."""
    settings = Settings(data_dir=tmp_path / "orphan", agents_file=agents_file)
    first = build_service(settings, embedder=embedder)
    await first.start()
    caller = Caller("carol")
    text = "The orphaned vector of this test names Kestrel"
    try:
        kept = await first.remember(caller, MemoryInput(text="Kestrel ships on Mondays"))
        orphan = _pending(first, text)
        vector = (await first.ctx.embed([text]))[0]
        await first.ctx.vectors.upsert([first.ctx.point(orphan, vector)])
        hits = (await first.recall(caller, RecallQuery(query=text, k=5))).hits
        assert [h.memory.id for h in hits] == [kept.id]
    finally:
        await first.close()

    again = build_service(settings, embedder=embedder)
    try:
        report = await again.start()
        assert report["dropped"] == 1, report
        assert await again.ctx.vectors.count() == await again.ctx.graph.count_indexable() == 1
        with pytest.raises(NotFound):
            await again.get(caller, orphan.id)
    finally:
        await again.close()


def _pending(service: MemoryService, text: str) -> Memory:
    """A memory as the write path stores it before commit (state pending)."""
    now = service.ctx.now()
    return Memory(id=new_id(), namespace="agent:carol", text=text, kind=MemoryKind.FACT,
                  importance=0.5, tags=(),
                  attribution=Attribution(created_by="carol", created_at=now), updated_at=now,
                  valid_from=now, content_hash=content_hash("agent:carol", text),
                  commit_state=CommitState.PENDING)
