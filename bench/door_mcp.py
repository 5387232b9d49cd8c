"""fleetmem's MCP stdio door (`fleetmem mcp`, the shim forwarding to `fleetmem serve`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from mcp import Client, StdioServerParameters

from bench import workload


async def measure_mcp(fleetmem: str, env: dict[str, str], queries: Sequence[str],
                      singles: int) -> dict[str, list[float]]:
    """remember and recall tool calls one at a time, timed at the client like an agent sees."""
    out: dict[str, list[float]] = {"remember": [], "recall": []}
    params = StdioServerParameters(command=fleetmem, args=["mcp"], env=env)
    async with Client(params) as client:
        texts = workload.memories(singles + 3, offset=30_000_000)
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            res = await client.call_tool("remember", {"text": text})
            took = (time.perf_counter() - t0) * 1000
            if res.is_error:
                raise RuntimeError(f"MCP remember failed: {res.content}")
            if i >= 3:
                out["remember"].append(took)
        for i, q in enumerate([*queries[:3], *queries]):
            t0 = time.perf_counter()
            res = await client.call_tool("recall", {"query": q, "k": 10})
            took = (time.perf_counter() - t0) * 1000
            if res.is_error:
                raise RuntimeError(f"MCP recall failed: {res.content}")
            if i >= 3:
                out["recall"].append(took)
    return out
