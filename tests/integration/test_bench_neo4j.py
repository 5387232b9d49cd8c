"""The Neo4j bench suite measures the same workload on a real Neo4j and on SQLite, in turn
(smoke size)."""

from __future__ import annotations

import pytest

from bench import workload
from bench.neo4j_suite import BACKENDS, measure_pair
from fleetmem.memory.ports import Embedder
from tests.neo4j_fixtures import Neo4jTarget


@pytest.mark.neo4j
async def test_neo4j_bench_measures_writes_and_recalls(neo4j_clean: Neo4jTarget,
                                                      embedder: Embedder) -> None:
    figs = await measure_pair(neo4j_clean.uri, 40, embedder, batch=16, singles=3,
                              queries=workload.queries(5))
    assert set(figs) == set(BACKENDS) == {"sqlite", "neo4j"}
    for fig in figs.values():
        assert fig.ingest_rate > 0
        assert len(fig.remember_ms) == 3 and len(fig.recall_ms) == 5
    # every Neo4j call of the timed phases is counted at the driver (issue 22)
    assert {"ingest", "remember", "recall"} <= set(figs["neo4j"].trips)
    assert not figs["sqlite"].trips


@pytest.mark.neo4j
async def test_neo4j_bench_bulk_fills_both_through_the_import_path(
        neo4j_clean: Neo4jTarget, embedder: Embedder) -> None:
    figs = await measure_pair(neo4j_clean.uri, 40, embedder, batch=16, singles=2,
                              queries=workload.queries(3), bulk=True, base=20)
    for fig in figs.values():
        assert fig.ingest_rate > 0
        assert len(fig.remember_ms) == 2 and len(fig.recall_ms) == 3
    assert "ingest" not in figs["neo4j"].trips  # the import is timed, not counted
