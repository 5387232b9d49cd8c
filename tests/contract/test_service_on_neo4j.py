"""The service-level suites re-run with the graph on a real Neo4j.

The core service tests (isolation, team sharing, dedup, supersede/history, forget and
restore, buffers, idempotency, graph expansion, validation, relation ends) and the GC job
tests are imported here and run unchanged: `make_service` below overrides the shared fixture so
every service built in this module stores its graph in Neo4j (emptied per test), with the
vector tier on embedded Qdrant Edge. Tests that poke at SQLite internals are left out.
"""

from __future__ import annotations

import pytest

from fleetmem.memory.settings import GraphSettings
from tests.conftest import ManualClock, ServiceFactory
from tests.gc.test_decay_purge import *  # noqa: F403
from tests.gc.test_housekeeping_jobs import (  # noqa: F401
    test_buffers_are_consolidated_before_they_expire,
    test_orphan_entities_go_after_the_grace_period,
    test_reconcile_repairs_a_broken_vector_tier,
)
from tests.integration.test_core_service import *  # noqa: F403
from tests.integration.test_graph_ends import *  # noqa: F403
from tests.neo4j_fixtures import Neo4jTarget

pytestmark = pytest.mark.neo4j


def neo4j_graph(target: Neo4jTarget) -> GraphSettings:
    """Graph settings pointing at the test Neo4j."""
    return GraphSettings(backend="neo4j", neo4j_uri=target.uri, neo4j_user=target.user,
                         neo4j_password=target.password)


@pytest.fixture
def make_service(make_service: ServiceFactory, neo4j_clean: Neo4jTarget) -> ServiceFactory:
    """The shared factory, with the graph on Neo4j."""
    async def factory(data_dir: object = None, clock: ManualClock | None = None,
                      **overrides: object) -> object:
        overrides.setdefault("graph", neo4j_graph(neo4j_clean))
        return await make_service(data_dir, clock, **overrides)
    return factory  # type: ignore[return-value]
