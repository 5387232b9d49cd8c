"""The governance service tests (conflicts between agents, usage per author, audit coverage)
re-run with the graph on a real Neo4j; same mechanism as test_service_on_neo4j.py, with
the governance suite's agents file."""

from __future__ import annotations

import pytest

from tests.conftest import ServiceFactory
from tests.contract.test_service_on_neo4j import neo4j_graph
from tests.governance.conftest import agents_file  # noqa: F401  (the governance agents)
from tests.governance.test_audit_coverage import *  # noqa: F403
from tests.governance.test_conflicts import *  # noqa: F403
from tests.governance.test_usage import *  # noqa: F403
from tests.neo4j_fixtures import Neo4jTarget

pytestmark = pytest.mark.neo4j

# Builds two services on separate data folders and expects two separate stores; on one
# shared Neo4j server they are one store (that is the point of a server).
del test_bulk_reads_record_a_count_unless_ids_are_asked_for  # noqa: F405, F821


@pytest.fixture
def make_service(make_service: ServiceFactory, neo4j_clean: Neo4jTarget) -> ServiceFactory:
    """The shared factory, with the graph on Neo4j."""
    async def factory(data_dir: object = None, clock: object = None,
                      **overrides: object) -> object:
        overrides.setdefault("graph", neo4j_graph(neo4j_clean))
        return await make_service(data_dir, clock, **overrides)
    return factory  # type: ignore[return-value]
