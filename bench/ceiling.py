"""The physical limit: raw model encode throughput and single-query latency, numpy top-k."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.report import pct
from fleetmem.memory.ports import Embedder


@dataclass(frozen=True)
class Ceiling:
    """What the model alone does on this machine, measured in this run."""

    encode_rate: float
    """Sentences per second, texts handed over `chunk` at a time (model batch inside)."""
    chunk: int
    model_batch: int
    threads: int
    sentences: int
    query_p50_ms: float
    query_p95_ms: float
    query_p99_ms: float


def measure(embedder: Embedder, texts: Sequence[str], queries: Sequence[str], *, chunk: int,
            model_batch: int, threads: int) -> Ceiling:
    """Time `embedder.embed` over texts in chunks, then one query at a time."""
    return measure_side_by_side([embedder], texts, queries, chunk=chunk,
                                model_batch=model_batch, threads=threads)[0]


def measure_side_by_side(embedders: Sequence[Embedder], texts: Sequence[str],
                         queries: Sequence[str], *, chunk: int, model_batch: int,
                         threads: int) -> list[Ceiling]:
    """`measure` for several embedders, interleaved call by call (chunk by chunk, query by
    query, the order alternating) so that a change in machine load hits them alike."""
    for e in embedders:
        e.embed(list(texts[:model_batch]))  # warm-up: first call allocates
        for q in queries[:5]:
            e.embed([q])
    busy = [0.0] * len(embedders)
    for n, i in enumerate(range(0, len(texts), chunk)):
        for j in _order(len(embedders), n):
            t0 = time.perf_counter()
            embedders[j].embed(list(texts[i:i + chunk]))
            busy[j] += time.perf_counter() - t0
    lat: list[list[float]] = [[] for _ in embedders]
    for n, q in enumerate(queries):
        for j in _order(len(embedders), n):
            t0 = time.perf_counter()
            embedders[j].embed([q])
            lat[j].append((time.perf_counter() - t0) * 1000)
    return [Ceiling(encode_rate=len(texts) / busy[j], chunk=chunk, model_batch=model_batch,
                    threads=threads, sentences=len(texts), query_p50_ms=pct(lat[j], 50),
                    query_p95_ms=pct(lat[j], 95), query_p99_ms=pct(lat[j], 99))
            for j in range(len(embedders))]


def _order(count: int, n: int) -> list[int]:
    return list(range(count)) if n % 2 == 0 else list(reversed(range(count)))


def numpy_topk_ms(matrix: npt.NDArray[np.float32], queries: npt.NDArray[np.float32],
                  k: int = 10) -> tuple[float, float]:
    """p50/p99 ms of an exact cosine top-k (normalised vectors: a dot product) in numpy."""
    if len(matrix) == 0:
        return (float("nan"), float("nan"))
    kk = min(k, len(matrix) - 1) if len(matrix) > 1 else 1
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        scores = matrix @ q
        top = np.argpartition(-scores, kk - 1)[:kk] if len(matrix) > kk else np.arange(len(matrix))
        top[np.argsort(-scores[top])]
        lat.append((time.perf_counter() - t0) * 1000)
    return (pct(lat, 50), pct(lat, 99))
