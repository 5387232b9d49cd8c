"""Many clients, one store: four `fleetmem mcp` stdio clients start at once (one service is
started for all of them), write concurrently, and each recalls all of its own memories and
none of another agent's private ones.

FLEETMEM_TEST_MCP_REMEMBERS sets the writes per client (default 200, the acceptance size).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from pathlib import Path

import pytest
import yaml
from mcp import Client

from fleetmem.mcp_server.launcher import LOG_FILE, START_MARK
from tests.e2e.mcp_scenarios import ok
from tests.e2e.mcp_support import free_port, stdio_client, stdio_env, stop_serve

AGENTS = ("ada", "ben", "cyd", "dev")
PER_CLIENT = int(os.environ.get("FLEETMEM_TEST_MCP_REMEMBERS", "200"))
IN_FLIGHT = 4  # concurrent calls per client, on top of the four clients
WORDS = ("amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo",
         "juniper", "kelp", "lagoon", "meadow", "nickel", "orchid", "pepper", "quartz",
         "raven", "saffron", "tundra", "umber", "velvet", "walnut", "yarrow", "zephyr",
         "anchor", "beacon", "canyon", "dune", "estuary", "falcon", "glacier", "heron",
         "island", "jasmine", "kestrel", "lantern", "marble", "nectar", "oasis", "prairie",
         "quill", "reef", "sequoia", "thistle", "valley", "willow")


def texts_for(agent: str, n: int) -> list[str]:
    """Distinct statements (random word mixes, so dedup has nothing to merge)."""
    rng = random.Random(agent)
    return [f"{agent} note {i}: the {' '.join(rng.sample(WORDS, 5))} runbook lives in "
            f"vault shelf {rng.randrange(10_000)}" for i in range(n)]


async def remember_all(c: Client, texts: list[str]) -> list[str]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(text: str) -> str:
        async with gate:
            return str((await ok(c, "remember", {"text": text}))["id"])
    return list(await asyncio.gather(*(one(t) for t in texts)))


async def recall_ids(c: Client, query: str, k: int) -> list[tuple[str, str]]:
    hits = (await ok(c, "recall", {"query": query, "k": k}))["hits"]
    return [(h["memory"]["id"], h["memory"]["namespace"]) for h in hits]


@pytest.mark.timeout(3600)
async def test_four_stdio_clients_share_one_store(tmp_path: Path) -> None:
    agents_file = tmp_path / "agents.yaml"
    agents_file.write_text(yaml.safe_dump({
        "roles": {"writer": {"allow": ["*"]}},
        "agents": {a: {"key_sha256": hashlib.sha256(f"{a}-key".encode()).hexdigest(),
                       "roles": ["writer"]} for a in AGENTS}}))
    data, port = tmp_path / "data", free_port()
    texts = {a: texts_for(a, PER_CLIENT) for a in AGENTS}
    ids: dict[str, list[str]] = {}
    written = asyncio.Barrier(len(AGENTS))

    async def run(i: int, agent: str) -> None:
        env = stdio_env(data, port, agents_file, FLEETMEM_MCP__API_KEY=f"{agent}-key")
        async with stdio_client(env, "legacy" if i % 2 else "auto") as c:
            ids[agent] = await remember_all(c, texts[agent])
            assert len(set(ids[agent])) == PER_CLIENT, f"{agent}: writes were merged or lost"
            await written.wait()
            stats = await ok(c, "list_namespaces", {})
            mine = next(n for n in stats["namespaces"] if n["namespace"] == f"agent:{agent}")
            assert mine["memories"] == {"active": PER_CLIENT}
            for text, mid in zip(texts[agent], ids[agent], strict=True):
                assert mid in [i for i, _ in await recall_ids(c, text, 3)], \
                    f"{agent} cannot recall its memory {text!r}"
            # This agent looks for the previous agent's private memories, by their text.
            victim = AGENTS[i - 1]
            for text in texts[victim]:
                leaked = [i for i, ns in await recall_ids(c, text, 10)
                          if ns != f"agent:{agent}" or i in ids[victim]]
                assert leaked == [], f"{agent} saw {victim}'s private memory"

    try:
        # All four shims start at once and race to start the one service.
        await asyncio.gather(*(run(i, a) for i, a in enumerate(AGENTS)))
        starts = (data / LOG_FILE).read_text().count(START_MARK)
        assert starts == 1, f"{starts} services were started for one data dir"
    finally:
        stop_serve(data)
