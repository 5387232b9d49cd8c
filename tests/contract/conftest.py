"""Fixtures of the port contract suites: every test runs on every adapter of its port.

The Neo4j variants are marked `neo4j` (`pytest -m neo4j` runs them, `-m "not neo4j"`
leaves them out); they use the session's real Neo4j, emptied before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleetmem.memory.ports import GraphStore
from fleetmem.memory.stores.neo4j.graph_store import Neo4jGraphStore
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.neo4j_fixtures import Neo4jTarget

GRAPH_BACKENDS = ["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)]


def open_graph(backend: str, request: pytest.FixtureRequest, tmp_path: Path, *,
               wipe: bool = True) -> GraphStore:
    """An unopened graph store of the given backend (Neo4j emptied first unless `wipe` is
    False: a second store on the same data, like another replica)."""
    if backend == "neo4j":
        target: Neo4jTarget = request.getfixturevalue("neo4j_clean" if wipe else
                                                      "neo4j_server")
        return Neo4jGraphStore(target.uri, target.user, target.password)
    return SqliteGraphStore(tmp_path / "graph.sqlite3")


@pytest.fixture(params=GRAPH_BACKENDS)
async def graph(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GraphStore]:
    """An open, empty graph store of each backend."""
    store = open_graph(request.param, request, tmp_path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
