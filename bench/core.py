"""fleetmem on embedded defaults: ingest, remember and recall latency, RSS, disk, cold start."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import workload
from bench.ceiling import numpy_topk_ms
from bench.machine import rss_mib
from bench.report import WORK_DIR
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import Settings

AGENT = "local"


@dataclass
class CoreFigures:
    """Everything measured for one corpus size."""

    size: int
    data_dir: Path
    ingest_rate: float = float("nan")
    deduplicated: int = 0
    remember_ms: list[float] = field(default_factory=list)
    recall_ms: list[float] = field(default_factory=list)
    recall_hits: float = 0.0
    numpy_p50_ms: float = float("nan")
    numpy_p99_ms: float = float("nan")
    rss_per_10k_mib: float = float("nan")
    rss_total_mib: float = float("nan")
    disk_per_10k_mib: float = float("nan")
    disk_total_mib: float = float("nan")
    disk_empty_mib: float = float("nan")
    cold_start_s: float = float("nan")
    cold_start_ok: bool = False
    index_build_s: float = 0.0
    indexed: int = 0
    doors: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def data_dir_for(size: int, label: str = "core") -> Path:
    """A fresh data folder under bench/.work (removed first)."""
    path = WORK_DIR / "data" / f"{label}-{size}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def dir_mib(path: Path) -> float:
    """Bytes allocated under a folder, in MiB (Qdrant Edge preallocates sparse files)."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) / 2**20


async def ingest(size: int, embedder: Embedder, *, batch: int, singles: int, queries: list[str],
                 data_dir: Path) -> CoreFigures:
    """Fill a fresh service with `size` memories, then time single writes and recalls."""
    fig = CoreFigures(size=size, data_dir=data_dir)
    empty = build_service(Settings(data_dir=data_dir), embedder=embedder)
    await empty.start()
    await empty.ready()
    await empty.close()
    fig.disk_empty_mib = dir_mib(data_dir)
    service = build_service(Settings(data_dir=data_dir), embedder=embedder)
    await service.start()
    caller = Caller(AGENT)
    try:
        rss0 = rss_mib()
        texts = workload.memories(size)
        start = time.perf_counter()
        for i in range(0, size, batch):
            res = await service.remember_batch(
                caller, [MemoryInput(text=t) for t in texts[i:i + batch]])
            fig.deduplicated += sum(r.deduplicated for r in res)
        fig.ingest_rate = size / (time.perf_counter() - start)
        # What the service does at its next start (and the nightly reconcile job) once
        # enough points are unindexed: build the HNSW index. Timed apart from ingest.
        t0 = time.perf_counter()
        fig.indexed = await service.ctx.vectors.build_index(
            Settings().vector.index_min_unindexed)
        fig.index_build_s = time.perf_counter() - t0
        for text in workload.memories(singles, offset=size + 10_000_000):
            t0 = time.perf_counter()
            await service.remember(caller, MemoryInput(text=text))
            fig.remember_ms.append((time.perf_counter() - t0) * 1000)
        for q in queries[:3]:
            await service.recall(caller, RecallQuery(query=q))
        hits = 0
        for q in queries:
            t0 = time.perf_counter()
            result = await service.recall(caller, RecallQuery(query=q, k=10))
            fig.recall_ms.append((time.perf_counter() - t0) * 1000)
            hits += len(result.hits)
        fig.recall_hits = hits / max(1, len(queries))
        rss1 = rss_mib()
        fig.rss_total_mib = rss1
        fig.rss_per_10k_mib = (rss1 - rss0) * 10_000 / size
    finally:
        await service.close()
    fig.disk_total_mib = dir_mib(data_dir)
    fig.disk_per_10k_mib = (fig.disk_total_mib - fig.disk_empty_mib) * 10_000 / size
    qvec = embedder.embed(queries)
    fig.numpy_p50_ms, fig.numpy_p99_ms = numpy_topk_ms(stored_vectors(data_dir), qvec)
    return fig


def stored_vectors(data_dir: Path) -> np.ndarray:
    """The very vectors fleetmem stored (read back from its SQLite file)."""
    con = sqlite3.connect(data_dir / "graph.sqlite3")
    try:
        rows = con.execute("SELECT vector FROM memories WHERE vector IS NOT NULL").fetchall()
    finally:
        con.close()
    if not rows:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows])


def cold_start(data_dir: Path, query: str) -> tuple[float, bool]:
    """Seconds from launching `fleetmem recall` (a new process) to its answer."""
    exe = Path(sys.executable).with_name("fleetmem")
    cmd = [str(exe), "recall", query, "--agent", AGENT, "--data-dir", str(data_dir), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    took = time.perf_counter() - t0
    return took, proc.returncode == 0 and '"hits"' in proc.stdout
