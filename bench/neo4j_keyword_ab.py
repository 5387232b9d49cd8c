"""Where recall's keyword leg runs on Neo4j (issue 22): in the recall's one shared read
transaction (`keyword_alone` off: one round trip, the leg's statement queued with the
graph leg's), or in its own beside it (on: a second transaction, which the server may run
at the same time as the graph leg's). Both on one store in one process, recall by recall
in alternation (who goes first alternates), so the machine's load falls on both alike.

`python -m bench.neo4j_keyword_ab --size 2000 --queries 100`: fills a Neo4j-backed service
through `remember_batch` (real encoding, so entities and turns are made as in use), then
prints recall p50/p95 of each variant and its transactions per recall.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time

from bench import workload
from bench.report import WORK_DIR, pct, say
from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import GraphSettings, Settings
from tests.support.bolt_count import counting

VARIANTS = {"shared": False, "alone": True}


async def measure(uri: str, size: int, queries: list[str], batch: int = 128
                  ) -> dict[str, tuple[list[float], list[int]]]:
    """Recall latencies (ms) and transactions per recall of each variant."""
    data_dir = WORK_DIR / "data" / f"keyword-ab-{size}"
    shutil.rmtree(data_dir, ignore_errors=True)
    service = build_service(Settings(data_dir=data_dir,
                                     graph=GraphSettings(backend="neo4j", neo4j_uri=uri)),
                            embedder=build_embedder(Settings()))
    await service.start()
    store = service.ctx.graph._inner  # type: ignore[attr-defined]  # under `Timed`
    caller = Caller("local")
    out: dict[str, tuple[list[float], list[int]]] = {v: ([], []) for v in VARIANTS}
    try:
        texts = workload.memories(size)
        for i in range(0, size, batch):
            await service.remember_batch(caller, [MemoryInput(text=t)
                                                  for t in texts[i:i + batch]])
        for q in queries[:3]:
            await service.recall(caller, RecallQuery(query=q))
        for n, q in enumerate(queries):
            order = list(VARIANTS) if n % 2 == 0 else list(VARIANTS)[::-1]
            for variant in order:
                store.keyword_alone = VARIANTS[variant]
                with counting() as count:
                    t0 = time.perf_counter()
                    await service.recall(caller, RecallQuery(query=q, k=10))
                    took = (time.perf_counter() - t0) * 1000
                out[variant][0].append(took)
                out[variant][1].append(sum(count.transactions.values()))
    finally:
        await service.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.neo4j_keyword_ab")
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args(argv)
    from tests.support.neo4j_server import start_neo4j

    home = WORK_DIR / "neo4j-home-ab"
    shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()[0]
    server = start_neo4j(home)
    try:
        figs = asyncio.run(measure(server.uri, args.size, workload.queries(args.queries)))
    finally:
        server.stop()
    say(f"keyword leg on Neo4j, {args.size:,} memories, {args.queries} recalls each, "
        f"load {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for variant, (ms, trips) in figs.items():
        say(f"  {variant:>6}: recall p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms, "
            f"{sum(trips) / len(trips):.2f} transactions per recall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
