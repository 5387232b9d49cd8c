"""Decay-sweep benchmark: N memories aged over two years, then a dry run and a real sweep.

    .venv/bin/python -m bench.gc_bench --n 100000

Memories are written straight into the embedded stores (random unit vectors, no model)
so that only the sweep is measured: listing, scoring, archiving in the graph and
deleting from the vector index. Prints one line per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.models import Attribution, Memory, MemoryKind
from fleetmem.memory.domain.text import content_hash, new_id
from fleetmem.memory.services.maintenance.jobs import SYSTEM_CALLER
from fleetmem.memory.settings import Settings
from fleetmem.memory.stores.embedding.hashing import HashingEmbedder

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BATCH = 1000


class FixedClock:
    """The benchmark's 'now' (memories are aged relative to it)."""

    def now(self) -> datetime:
        return NOW


def say(text: str) -> None:
    """One result line on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def corpus(n: int, seed: int = 7) -> list[Memory]:
    """N memories over 10 agents, created up to two years ago, some used, 2% pinned."""
    rng = np.random.default_rng(seed)
    kinds = list(MemoryKind)
    out = []
    for i in range(n):
        created = NOW - timedelta(days=float(rng.uniform(0, 730)))
        accessed = created + (NOW - created) * float(rng.uniform()) \
            if rng.uniform() < 0.3 else None
        ns = f"agent:a{i % 10}"
        text = f"benchmark memory {i} about topic {i % 97}"
        out.append(Memory(
            id=new_id(), namespace=ns, text=text, kind=kinds[i % len(kinds)],
            importance=float(rng.uniform()), tags=(),
            attribution=Attribution(created_by=f"a{i % 10}", created_at=created),
            updated_at=created, valid_from=created, pinned=bool(rng.uniform() < 0.02),
            access_count=int(rng.poisson(2)) if accessed else 0, last_accessed_at=accessed,
            content_hash=content_hash(ns, text)))
    return out


async def run(n: int, data_dir: Path) -> None:
    """Load the corpus, then time a dry run and a real decay sweep."""
    embedder = HashingEmbedder(384)
    service = build_service(Settings(data_dir=data_dir), embedder=embedder, clock=FixedClock())
    await service.start()
    ctx = service.ctx
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    memories = corpus(n)
    for start in range(0, n, BATCH):
        chunk = memories[start:start + BATCH]
        vectors = rng.standard_normal((len(chunk), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        await ctx.graph.insert_memories(chunk, list(vectors))
        await ctx.vectors.upsert([ctx.point(m, v) for m, v in zip(chunk, vectors, strict=True)])
        await ctx.graph.mark_committed([m.id for m in chunk], [])
    await ctx.vectors.flush()
    say(f"loaded {n} memories in {time.perf_counter() - started:.2f}s")

    started = time.perf_counter()
    dry = await service.operator.gc_decay(SYSTEM_CALLER, dry_run=True)
    took = time.perf_counter() - started
    say(f"decay dry run: seen {dry.seen}, would archive {dry.archived} in {took:.2f}s "
        f"({n / took:,.0f} memories/s)")
    started = time.perf_counter()
    real = await service.operator.gc_decay(SYSTEM_CALLER)
    took = time.perf_counter() - started
    say(f"decay sweep: seen {real.seen}, archived {real.archived} in {took:.2f}s "
        f"({n / took:,.0f} memories/s)")
    assert real.archived == dry.archived
    left = await ctx.vectors.count()
    say(f"vector tier after the sweep: {left} points ({n - left} removed)")
    await service.close()


def main() -> None:
    """Command line: --n (default 1000), --data-dir (default: a temporary folder)."""
    p = argparse.ArgumentParser(prog="python -m bench.gc_bench", description=__doc__)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--data-dir", type=Path, default=None)
    args = p.parse_args()
    if args.data_dir is not None:
        asyncio.run(run(args.n, args.data_dir))
        return
    with tempfile.TemporaryDirectory(prefix="fleetmem-gc-bench-") as tmp:
        asyncio.run(run(args.n, Path(tmp)))


if __name__ == "__main__":
    main()
