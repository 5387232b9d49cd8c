"""fleetmem with its graph on a real Neo4j 5.26 beside the embedded (SQLite) graph, both
measured in the same run on the same workload, with their ratios (issue 22's targets:
recall p50 Neo4j/embedded <= 1.5, write rate Neo4j/embedded >= 0.8).

The same workload as the core suite (bench.workload memories and questions, batches of
`batch`, k=10 hybrid recall) on two services that differ in their graph store alone:
Neo4j (started locally by the test launcher, Bolt on loopback) and SQLite; the vectors
stay on Qdrant Edge for both. The two are driven in alternation (a batch to one, the
same batch to the other; one recall on each, in turn), so a shared machine's changing
load falls on both alike. Ingest encodes each text once, for the store that takes the
batch first, alternating (see `SharedIngest`), so both write rates include the same
share of encoding; single writes and recalls encode for each store. Run alone with
`python -m bench.neo4j_suite --size N`.

Every Neo4j call of the timed phases is also counted at the driver
(`tests.support.bolt_count`): transactions and statements per recall, per single
remember and per ingest batch, so a change's round trips are stated beside its latency.

`--bulk` (for 100k, whose encoding alone would take ~45 min per store here) fills both
stores through the import path instead (`import_lines` with `embedding: {model, vector}`,
as `bench scale` does): the same precomputed vectors for both (`--base` real texts
encoded once, the rest synthetic mixes of them, see `bench.scale_parts`), so the write
rate is the import path's, without encoding; single writes and recalls are unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bench import workload
from bench.report import WORK_DIR, Report, Target, pct
from bench.scale_parts import import_lines, synthetic
from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import GraphSettings, Settings
from tests.support.bolt_count import BoltCount, counting

AGENT = "local"
BACKENDS = ("sqlite", "neo4j")


class SharedIngest:
    """The real embedder, encoding each ingested text once for both stores while
    `sharing` (ingest only): the store that takes a batch first pays its encode, and the
    first store alternates batch by batch, so each pays half the ingest's encoding (the
    run would otherwise encode every text twice: ~20 min more at 10k on 2 cores).
    Single writes and recalls encode for each store (sharing off)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.sharing = False
        self._cache: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def dimension(self) -> int:
        """The inner model's."""
        return self.inner.dimension

    @property
    def model_name(self) -> str:
        """The inner model's."""
        return self.inner.model_name

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Rows of the inner model (from the cache for a text already encoded while
        sharing; the cache lets a text go once the second store took it)."""
        if not self.sharing:
            return self.inner.embed(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.inner.embed(missing), strict=True))
            return np.stack([self._cache[t] for t in texts])
        return np.stack([self._cache.pop(t) for t in texts])


@dataclass
class Neo4jFigures:
    """Write rate and latencies of one graph store at one size."""

    size: int
    ingest_rate: float = float("nan")
    ingest_s: float = 0.0
    remember_ms: list[float] = field(default_factory=list)
    recall_ms: list[float] = field(default_factory=list)
    trips: dict[str, list[BoltCount]] = field(default_factory=dict)
    """Driver-level counts per call, by phase ("ingest", "remember", "recall")."""

    def trips_text(self, phase: str) -> str:
        """Mean transactions and statements per call of a phase."""
        counts = self.trips.get(phase, [])
        if not counts:
            return "-"
        n = len(counts)
        reads = sum(c.transactions["read"] + c.transactions["explicit"] for c in counts) / n
        writes = sum(c.transactions["write"] for c in counts) / n
        statements = sum(c.statements for c in counts) / n
        return f"{reads:.2f} read + {writes:.2f} write transactions, {statements:.1f} statements"


async def _timed(call: Awaitable[object], figs: Neo4jFigures | None = None,
                 phase: str = "") -> float:
    """Seconds one awaited call took (its Neo4j transactions counted into `figs`)."""
    with counting() as count:
        t0 = time.perf_counter()
        await call
        took = time.perf_counter() - t0
    if figs is not None and (count.statements or count.transactions):
        figs.trips.setdefault(phase, []).append(count)
    return took


async def _fill_by_import(services: dict[str, MemoryService], figs: dict[str, Neo4jFigures],
                          embedder: Embedder, size: int, batch: int, base: int) -> None:
    """`--bulk`: the same import lines (texts with precomputed vectors) to both stores,
    batch by batch in turn (who goes first alternates); only the import calls are timed."""
    caller = Caller(AGENT)
    base_texts = workload.memories(min(base, size))
    base_vectors = embedder.embed(base_texts)
    for n, i in enumerate(range(0, size, batch)):
        count = min(batch, size - i)
        if i < len(base_texts):
            count = min(count, len(base_texts) - i)
            texts, vectors = base_texts[i:i + count], base_vectors[i:i + count]
        else:
            texts = workload.memories(count, offset=i)
            vectors = synthetic(base_vectors, i, count)
        lines = import_lines(texts, vectors, embedder.model_name, i + 1)
        for b in BACKENDS if n % 2 == 0 else BACKENDS[::-1]:
            t0 = time.perf_counter()
            report = await services[b].import_lines(caller, lines)
            figs[b].ingest_s += time.perf_counter() - t0
            if report.imported != count:
                raise RuntimeError(f"{b}: import wrote {report.imported} of {count}")


async def measure_pair(uri: str, size: int, embedder: Embedder, *, batch: int,
                       singles: int, queries: list[str], bulk: bool = False,
                       base: int = 2048) -> dict[str, Neo4jFigures]:
    """Fill a service on SQLite and one on Neo4j with the same `size` memories, batch by
    batch in turn (who goes first alternates), then time single writes and recalls on
    each, in turn. With `bulk`, the fill is an import of precomputed vectors."""
    shared = SharedIngest(embedder)
    services: dict[str, MemoryService] = {}
    for backend in BACKENDS:
        data_dir = WORK_DIR / "data" / f"graph-{backend}-{size}"
        shutil.rmtree(data_dir, ignore_errors=True)
        graph = GraphSettings(backend="neo4j", neo4j_uri=uri) if backend == "neo4j" \
            else GraphSettings()
        services[backend] = build_service(Settings(data_dir=data_dir, graph=graph),
                                          embedder=shared)
        await services[backend].start()
    caller = Caller(AGENT)
    figs = {b: Neo4jFigures(size=size) for b in BACKENDS}
    try:
        if bulk:
            await _fill_by_import(services, figs, embedder, size, batch, base)
        else:
            texts = workload.memories(size)
            shared.sharing = True
            for n, i in enumerate(range(0, size, batch)):
                chunk = [MemoryInput(text=t) for t in texts[i:i + batch]]
                for b in BACKENDS if n % 2 == 0 else BACKENDS[::-1]:
                    figs[b].ingest_s += await _timed(services[b].remember_batch(caller, chunk),
                                                     figs[b], "ingest")
            shared.sharing = False
        for b in BACKENDS:
            figs[b].ingest_rate = size / figs[b].ingest_s
        for text in workload.memories(singles, offset=size + 10_000_000):
            for b in BACKENDS:
                figs[b].remember_ms.append(await _timed(
                    services[b].remember(caller, MemoryInput(text=text)),
                    figs[b], "remember") * 1000)
        for q in queries[:3]:
            for b in BACKENDS:
                await services[b].recall(caller, RecallQuery(query=q))
        for q in queries:
            for b in BACKENDS:
                figs[b].recall_ms.append(await _timed(
                    services[b].recall(caller, RecallQuery(query=q, k=10)),
                    figs[b], "recall") * 1000)
    finally:
        for service in services.values():
            await service.close()
    return figs


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def n_trips(figs: dict[str, Neo4jFigures], phase: str) -> str:
    """The Neo4j store's mean transactions and statements per call of a phase."""
    return figs["neo4j"].trips_text(phase)


def run_neo4j(embedder: Embedder, report: Report, size: int, *, embedded: object = None,
              batch: int = 128, queries: int = 200, singles: int = 50,
              bulk: bool = False, base: int = 2048) -> Neo4jFigures:
    """Start Neo4j, measure it beside SQLite in the same run, stop it, and add the table
    and the two targets. (`embedded`, the core suite's figures of another pass, is no
    longer used: the embedded row is measured here, in alternation with Neo4j.) With
    `bulk`, both are filled through the import path (see the module docstring)."""
    del embedded
    if bulk:
        batch = max(batch, 256)  # the import's batch limit
    from tests.support.neo4j_server import start_neo4j

    home = WORK_DIR / "neo4j-home"
    shutil.rmtree(home, ignore_errors=True)
    load_start = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    server = start_neo4j(home)
    try:
        figs = asyncio.run(measure_pair(server.uri, size, embedder, batch=batch,
                                        singles=singles, queries=workload.queries(queries),
                                        bulk=bulk, base=base))
    finally:
        server.stop()
    load_end = os.getloadavg()[0]
    names = {"sqlite": "SQLite (embedded)", "neo4j": "Neo4j 5.26 (local server)"}
    rows = [[names[b], f.size, f.ingest_rate, pct(f.remember_ms, 50), pct(f.remember_ms, 95),
             pct(f.recall_ms, 50), pct(f.recall_ms, 95)] for b, f in figs.items()]
    e, n = figs["sqlite"], figs["neo4j"]
    rows.append(["Neo4j / embedded", size, _ratio(n.ingest_rate, e.ingest_rate),
                 _ratio(pct(n.remember_ms, 50), pct(e.remember_ms, 50)),
                 _ratio(pct(n.remember_ms, 95), pct(e.remember_ms, 95)),
                 _ratio(pct(n.recall_ms, 50), pct(e.recall_ms, 50)),
                 _ratio(pct(n.recall_ms, 95), pct(e.recall_ms, 95))])
    fill = (f"ingest through the import path (`import_lines`, batches of {batch}, the same "
            f"precomputed vectors for both: {min(base, size):,} real, the rest synthetic "
            "mixes; no encoding), so the write rate is the import path's"
            if bulk else
            f"ingest via remember_batch in batches of {batch}")
    report.table("fleetmem with the graph on Neo4j beside SQLite, same run "
                 "(vectors on Qdrant Edge, MiniLM)", [
                     "graph store", "memories", "write mem/s", "remember p50 ms", "p95",
                     "recall p50 ms", "p95"], rows, notes=[
        f"Started {started}; load average (1 min) {load_start:.2f} at the start, "
        f"{load_end:.2f} at the end.",
        f"Same workload as the embedded table: {fill}, then {singles} single remembers "
        f"and {queries} recalls (k=10, hybrid), the two stores in alternation."
        + ("" if bulk else " Ingest encodes each text once, for whichever store takes "
           "the batch first (alternating), so each store's write rate includes half the "
           "ingest's encoding; single writes and recalls encode for each store."),
        "Neo4j per call, counted at the driver: recall " + n_trips(figs, "recall")
        + "; single remember " + n_trips(figs, "remember")
        + ("" if bulk else f"; remember_batch of {batch} " + n_trips(figs, "ingest")) + ".",
        "Neo4j runs on this machine (JVM started by tests/support/neo4j_server.py), so its "
        "CPU use competes with the embedder and the client."])
    report.target(Target("Neo4j recall p50 <= 1.5x embedded (same run)",
                         _ratio(pct(n.recall_ms, 50), pct(e.recall_ms, 50)), 1.5, False,
                         f"{pct(n.recall_ms, 50):.2f} vs {pct(e.recall_ms, 50):.2f} ms "
                         f"at {size:,} memories"))
    report.target(Target("Neo4j write rate >= 0.8x embedded (same run)",
                         _ratio(n.ingest_rate, e.ingest_rate), 0.8, True,
                         f"{n.ingest_rate:.2f} vs {e.ingest_rate:.2f} memories/s "
                         f"at {size:,} memories"))
    return n


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.neo4j_suite --size N`: the Neo4j table beside SQLite."""
    parser = argparse.ArgumentParser(prog="python -m bench.neo4j_suite")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--singles", type=int, default=50)
    parser.add_argument("--bulk", action="store_true",
                        help="fill both stores through the import path with the same "
                             "precomputed vectors (for 100k: no encoding)")
    parser.add_argument("--base", type=int, default=2048,
                        help="with --bulk: texts encoded for real (the rest are mixes)")
    args = parser.parse_args(argv)
    run_neo4j(build_embedder(Settings()), Report(), args.size, queries=args.queries,
              singles=args.singles, bulk=args.bulk, base=args.base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
