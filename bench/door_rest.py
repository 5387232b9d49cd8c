"""fleetmem's REST door (`/v1`): single remember and recall latency, client-observed."""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from bench import workload


def measure_rest(base: str, queries: Sequence[str], singles: int) -> dict[str, list[float]]:
    """POST /v1/memories and /v1/memories/recall one at a time over one keep-alive client."""
    out: dict[str, list[float]] = {"remember": [], "recall": []}
    with httpx.Client(base_url=base, timeout=60) as client:
        texts = workload.memories(singles + 3, offset=20_000_000)
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            r = client.post("/v1/memories", json={"text": text})
            took = (time.perf_counter() - t0) * 1000
            r.raise_for_status()
            if i >= 3:  # the first calls warm the connection and the route
                out["remember"].append(took)
        for i, q in enumerate([*queries[:3], *queries]):
            t0 = time.perf_counter()
            r = client.post("/v1/memories/recall", json={"query": q, "k": 10})
            took = (time.perf_counter() - t0) * 1000
            r.raise_for_status()
            if i >= 3:
                out["recall"].append(took)
    return out
