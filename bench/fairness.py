"""One agent floods, another recalls: what the flood does to the other agent's latency.

    .venv/bin/python -m bench fairness --seconds 20

A recall that waits more than 30 s is given up and counted as 30 s (a lower bound).

On the embedded service (SQLite + Qdrant Edge + MiniLM, in process), agent `bob` asks
recalls one after another, first alone (idle), then while `alice` loops batches of 240
maximum-size texts from 1 and from 3 concurrent clients. Each phase runs with the shipped
fair scheduler (`new`) and with the first-come-first-served queue it replaced (`old`, a
faithful copy kept here for the comparison only), in the same run, on the same store.
Prints bob's recall p50/p95 per phase and the ratios to idle.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.machine import cpu_model, git_commit
from bench.report import pct, say
from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services import Caller, MemoryInput, MemoryService, RecallQuery
from fleetmem.memory.services.runtime.workshare import WorkShare
from fleetmem.memory.settings import Settings

Vectors = npt.NDArray[np.float32]
BOB, ALICE = Caller("bob"), Caller("alice")
CAP_SECONDS = 30.0
"""A recall still waiting after this long is given up and counted at this value."""
WORDS = ("ledger", "billing", "deploy", "rollout", "cache", "shard", "replica", "quota",
         "tenant", "invoice", "audit", "latency", "backup", "schema", "index", "vector",
         "graph", "memory", "agent", "cluster", "region")


class FifoBatcher:
    """The queue before issue 21: first come, first served, a request whole in one call,
    later requests coalesced up to 64 texts (the comparison baseline only)."""

    def __init__(self, embedder: Embedder, pool: Executor, max_texts: int = 64) -> None:
        self._embedder, self._pool, self._max = embedder, pool, max_texts
        self._queue: list[tuple[list[str], asyncio.Future[Vectors]]] = []
        self._draining = False
        self.model_calls = 0

    async def embed(self, texts: Sequence[str], agent: str = "") -> Vectors:
        """Vectors for `texts` (the agent is ignored: one queue for everyone)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        self._queue.append((list(texts), future))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch = [self._queue.pop(0)]
                size = len(batch[0][0])
                while self._queue and size + len(self._queue[0][0]) <= self._max:
                    size += len(self._queue[0][0])
                    batch.append(self._queue.pop(0))
                batch = [(t, f) for t, f in batch if not f.cancelled()]
                if not batch:
                    continue
                flat = [t for texts, _ in batch for t in texts]
                self.model_calls += 1
                try:
                    vectors = await loop.run_in_executor(self._pool, self._embedder.embed,
                                                         flat)
                except Exception as exc:
                    for _, f in batch:
                        if not f.done():
                            f.set_exception(exc)
                    continue
                start = 0
                for texts, f in batch:
                    if not f.done():
                        f.set_result(vectors[start:start + len(texts)])
                    start += len(texts)
        finally:
            self._draining = False


def _text(rng: random.Random, chars: int, tag: str) -> str:
    words, size = [tag], len(tag)
    while size < chars:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


async def _flood(service: MemoryService, client: int, chars: int, stop: asyncio.Event) -> int:
    rng = random.Random(client)
    sent = 0
    while not stop.is_set():
        batch = [MemoryInput(text=_text(rng, chars, f"c{client}-{sent}-{i}"))
                 for i in range(240)]
        await service.remember_batch(ALICE, batch)
        sent += 1
    return sent


async def _recalls(service: MemoryService, seconds: float, most: int) -> list[float]:
    rng = random.Random(7)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and len(times) < most:
        t0 = time.perf_counter()
        query = RecallQuery(query=f"{rng.choice(WORDS)} {rng.choice(WORDS)}")
        try:
            await asyncio.wait_for(service.recall(BOB, query), CAP_SECONDS)
        except TimeoutError:  # counted at the cap: a lower bound
            times.append(CAP_SECONDS)
            continue
        times.append(time.perf_counter() - t0)
    return times


async def _phase(service: MemoryService, clients: int, seconds: float, chars: int
                 ) -> tuple[list[float], int]:
    stop = asyncio.Event()
    floods = [asyncio.create_task(_flood(service, c, chars, stop)) for c in range(clients)]
    if floods:
        await asyncio.sleep(1.0)  # let the flood fill the queue
    times = await _recalls(service, seconds, 10_000)
    stop.set()
    for task in floods:
        task.cancel()
    done = await asyncio.gather(*floods, return_exceptions=True)
    await asyncio.sleep(0.5)  # the model call in progress finishes
    return times, sum(1 for d in done if isinstance(d, int))


async def run(seconds: float, chars: int, data_dir: Path) -> list[tuple[str, str, list[float]]]:
    """Every (scheduler, phase) cell: bob's recall latencies in seconds."""
    settings = Settings(data_dir=data_dir)
    service = build_service(settings, embedder=build_embedder(settings))
    await service.start()
    rows: list[tuple[str, str, list[float]]] = []
    try:
        rng = random.Random(1)
        await service.remember_batch(BOB, [MemoryInput(text=_text(rng, 200, f"bob-{i}"))
                                           for i in range(200)])
        fair, share = service.ctx._batcher, service.ctx.work_share
        fifo = FifoBatcher(service.ctx.embedder, ThreadPoolExecutor(1))
        for mode in ("new", "old"):
            if mode == "old":  # the queue before issue 21, and no per-agent slots
                service.ctx._batcher = fifo  # type: ignore[assignment]
                service.ctx.work_share = WorkShare(0, 0)
            else:
                service.ctx._batcher, service.ctx.work_share = fair, share
            for clients in (0, 1, 3):
                phase = "idle" if clients == 0 else f"flood x{clients}"
                times, _ = await _phase(service, clients, seconds if clients else
                                        min(seconds, 8.0), chars)
                rows.append((mode, phase, times))
                say(f"{mode:>3} {phase:<9} n={len(times):4d} "
                    f"p50={statistics.median(times) * 1000:8.1f} ms "
                    f"p95={pct(times, 95) * 1000:8.1f} ms")
    finally:
        await service.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run and print the table (Markdown) with ratios to each scheduler's idle."""
    p = argparse.ArgumentParser(prog="python -m bench fairness", description=__doc__)
    p.add_argument("--seconds", type=float, default=20.0, help="recall time per flood phase")
    p.add_argument("--chars", type=int, default=Settings().limits.max_text_chars,
                   help="flood text size (default: the maximum)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(run(args.seconds, args.chars, Path(tmp)))
    idle = {mode: pct(times, 95) for mode, phase, times in rows if phase == "idle"}
    idle50 = {mode: statistics.median(times) for mode, phase, times in rows if phase == "idle"}
    say(f"\n{cpu_model()}, commit {git_commit()}, {args.seconds:g} s a flood phase, "
        f"flood batches of 240 x {args.chars} characters")
    say("| scheduler | phase | recalls | p50 ms | p95 ms | p50 / idle | p95 / idle |")
    say("|---|---|---:|---:|---:|---:|---:|")
    for mode, phase, times in rows:
        p50, p95 = statistics.median(times), pct(times, 95)
        say(f"| {mode} | {phase} | {len(times)} | {p50 * 1000:.1f} | {p95 * 1000:.1f} | "
            f"{p50 / idle50[mode]:.1f}x | {p95 / idle[mode]:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
