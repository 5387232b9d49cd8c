"""kill -9 of a real `fleetmem serve` under concurrent REST writes, restarted each time:
no acknowledged write is lost or doubled, nothing half-written is visible, on the embedded
stores and with the graph on Neo4j. FLEETMEM_CRASH_CYCLES sets the cycles (quick: 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetmem.memory.ports import Embedder
from tests.neo4j_fixtures import Neo4jTarget
from tests.reliability.crash import CrashResult, run_crash

CYCLES = int(os.environ.get("FLEETMEM_CRASH_CYCLES", "3"))
TIMEOUT = 300 + 90 * CYCLES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIMEOUT)]


def _assert_survived(result: CrashResult) -> None:
    ledger = result.ledger
    assert ledger.cycles == CYCLES
    assert len(ledger.acked) > 0, "no write was acknowledged: the test proved nothing"
    assert ledger.server_errors == 0, f"5xx answers: {ledger.statuses}"
    assert result.problems == [], "\n".join(result.problems[:20])
    # the inspection really read the stores the service wrote
    assert result.stores.indexable_count >= len(ledger.acked)
    assert set(ledger.acked) <= set(result.stores.memories)


async def test_kill_9_of_serve_loses_no_acknowledged_write(tmp_path: Path,
                                                         embedder: Embedder) -> None:
    result = await run_crash(tmp_path / "data", CYCLES, embedder, seed=11)
    _assert_survived(result)


@pytest.mark.neo4j
async def test_kill_9_of_serve_on_neo4j_loses_no_acknowledged_write(
        tmp_path: Path, embedder: Embedder, neo4j_clean: Neo4jTarget) -> None:
    env = {"FLEETMEM_GRAPH__BACKEND": "neo4j", "FLEETMEM_GRAPH__NEO4J_URI": neo4j_clean.uri,
           "FLEETMEM_GRAPH__NEO4J_USER": neo4j_clean.user,
           "FLEETMEM_GRAPH__NEO4J_PASSWORD": neo4j_clean.password}
    result = await run_crash(tmp_path / "data", CYCLES, embedder, env=env, seed=12)
    _assert_survived(result)
