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
    embedder.embed(list(texts[:model_batch]))  # warm-up: first call allocates
    start = time.perf_counter()
    for i in range(0, len(texts), chunk):
        embedder.embed(list(texts[i:i + chunk]))
    rate = len(texts) / (time.perf_counter() - start)
    for q in queries[:5]:
        embedder.embed([q])
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        embedder.embed([q])
        lat.append((time.perf_counter() - t0) * 1000)
    return Ceiling(encode_rate=rate, chunk=chunk, model_batch=model_batch, threads=threads,
                   sentences=len(texts), query_p50_ms=pct(lat, 50), query_p95_ms=pct(lat, 95),
                   query_p99_ms=pct(lat, 99))


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
