"""fleetmem with its graph on a real Neo4j 5.26, beside the embedded figures of the same run.

The same workload as the core suite (bench.workload memories and questions, batches of
`batch`, k=10 hybrid recall) on a service whose graph store is Neo4j (started locally by
the test launcher, Bolt on loopback) and whose vectors stay on Qdrant Edge, so the
difference is the graph tier alone. Run alone with `python -m bench.neo4j_suite --size N`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
from dataclasses import dataclass, field

from bench import workload
from bench.report import WORK_DIR, Report, pct
from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import GraphSettings, Settings

AGENT = "local"


@dataclass
class Neo4jFigures:
    """Write rate and latencies of one size on Neo4j."""

    size: int
    ingest_rate: float = float("nan")
    remember_ms: list[float] = field(default_factory=list)
    recall_ms: list[float] = field(default_factory=list)


async def measure_neo4j(uri: str, size: int, embedder: Embedder, *, batch: int,
                        singles: int, queries: list[str]) -> Neo4jFigures:
    """Fill a service on Neo4j with `size` memories, then time single writes and recalls."""
    data_dir = WORK_DIR / "data" / f"neo4j-{size}"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, graph=GraphSettings(backend="neo4j", neo4j_uri=uri))
    service = build_service(settings, embedder=embedder)
    await service.start()
    caller = Caller(AGENT)
    fig = Neo4jFigures(size=size)
    try:
        texts = workload.memories(size)
        start = time.perf_counter()
        for i in range(0, size, batch):
            await service.remember_batch(caller, [MemoryInput(text=t)
                                                  for t in texts[i:i + batch]])
        fig.ingest_rate = size / (time.perf_counter() - start)
        for text in workload.memories(singles, offset=size + 10_000_000):
            t0 = time.perf_counter()
            await service.remember(caller, MemoryInput(text=text))
            fig.remember_ms.append((time.perf_counter() - t0) * 1000)
        for q in queries[:3]:
            await service.recall(caller, RecallQuery(query=q))
        for q in queries:
            t0 = time.perf_counter()
            await service.recall(caller, RecallQuery(query=q, k=10))
            fig.recall_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        await service.close()
    return fig


def run_neo4j(embedder: Embedder, report: Report, size: int, *, embedded: object = None,
              batch: int = 128, queries: int = 200, singles: int = 50) -> Neo4jFigures:
    """Start Neo4j, measure, stop it, and add the table (with the embedded row of this run
    when `embedded` is the core suite's CoreFigures for the same size)."""
    from tests.support.neo4j_server import start_neo4j

    home = WORK_DIR / "neo4j-home"
    shutil.rmtree(home, ignore_errors=True)
    server = start_neo4j(home)
    try:
        fig = asyncio.run(measure_neo4j(server.uri, size, embedder, batch=batch,
                                        singles=singles, queries=workload.queries(queries)))
    finally:
        server.stop()
    rows: list[list[object]] = []
    if embedded is not None:
        e = embedded
        rows.append(["SQLite (embedded)", e.size, e.ingest_rate,  # type: ignore[attr-defined]
                     pct(e.remember_ms, 50), pct(e.remember_ms, 95),  # type: ignore[attr-defined]
                     pct(e.recall_ms, 50), pct(e.recall_ms, 95)])  # type: ignore[attr-defined]
    rows.append(["Neo4j 5.26 (local server)", fig.size, fig.ingest_rate,
                 pct(fig.remember_ms, 50), pct(fig.remember_ms, 95),
                 pct(fig.recall_ms, 50), pct(fig.recall_ms, 95)])
    report.table("fleetmem with the graph on Neo4j (vectors on Qdrant Edge, MiniLM)", [
        "graph store", "memories", "write mem/s", "remember p50 ms", "p95",
        "recall p50 ms", "p95"], rows, notes=[
        f"Same workload as the embedded table: ingest via remember_batch in batches of "
        f"{batch}, then {singles} single remembers and {queries} recalls (k=10, hybrid).",
        "Neo4j runs on this machine (JVM started by tests/support/neo4j_server.py), so its "
        "CPU use competes with the embedder; every store call is a Bolt round trip and one "
        "managed transaction."])
    return fig


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.neo4j_suite --size N`: the Neo4j table alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.neo4j_suite")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    run_neo4j(build_embedder(Settings()), Report(), args.size, queries=args.queries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
