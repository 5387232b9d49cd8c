"""`Neo4jGraphStore`: the graph, buffer and audit store on a Neo4j server or cluster.

Several fleetmem replicas can share one Neo4j: every port method is one managed
transaction (or part of the one a use case bundles with `reading` / `write_together`),
read-modify-write steps lock what they change before reading it, and the audit chain is
serialised through its head node.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from fleetmem.memory.domain.audit import GENESIS
from fleetmem.memory.domain.models import Relation
from fleetmem.memory.stores.neo4j.audit_ops import Neo4jBufferAuditOps
from fleetmem.memory.stores.neo4j.codec import relation_of
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows, run
from fleetmem.memory.stores.neo4j.entity_ops import Neo4jEntityOps
from fleetmem.memory.stores.neo4j.gc_ops import Neo4jGcOps
from fleetmem.memory.stores.neo4j.governance_ops import Neo4jGovernanceOps
from fleetmem.memory.stores.neo4j.memory_ops import Neo4jMemoryOps
from fleetmem.memory.stores.neo4j.schema import COUNT_NAMESPACE_DOCS, STATEMENTS
from fleetmem.memory.stores.neo4j.search_ops import Neo4jMemorySearchOps

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Neo4jGraphStore(Neo4jMemoryOps, Neo4jMemorySearchOps, Neo4jEntityOps,
                      Neo4jBufferAuditOps, Neo4jGcOps, Neo4jGovernanceOps):
    """GraphStore on Neo4j 5 (Community or Enterprise) via the official async driver."""

    def __init__(self, uri: str, user: str = "neo4j", password: str = "",
                 database: str = "neo4j") -> None:
        self.db = Neo4jConnection(uri, user, password, database)

    async def open(self) -> None:
        """Connect and create the schema (constraints, indexes; idempotent)."""
        await self.db.open()
        await self.db.schema(STATEMENTS)

        async def head(tx: Tx) -> None:
            await run(tx, "MERGE (h:AuditHead {id: 'audit'}) "
                          "ON CREATE SET h.seq = 0, h.hash = $genesis", genesis=GENESIS)
            await run(tx, COUNT_NAMESPACE_DOCS)
        await self.db.write(head)
        logger.info("neo4j graph store open at %s", self.db.uri)

    async def close(self) -> None:
        """Close the driver."""
        await self.db.close()

    def reading(self) -> AbstractAsyncContextManager[object]:
        """Reads inside share one read transaction (see `scopes.ReadScope`)."""
        return self.db.reading()

    async def write_together(self, block: Callable[[], Awaitable[T]]) -> T:
        """`block`'s reads and writes in one managed write transaction (retried whole)."""
        return await self.db.write_together(block)

    async def ping(self) -> None:
        """Run a trivial query (raises StorageUnavailable on failure)."""
        async def fn(tx: Tx) -> None:
            await rows(tx, "RETURN 1 AS ok")
        await self.db.read(fn)

    async def all_relations(self, after_id: str | None, limit: int) -> list[Relation]:
        """Every relation, current and closed, ordered by id (for export and migration)."""
        async def fn(tx: Tx) -> list[Relation]:
            found = await rows(tx, "MATCH ()-[r:RELATES]->() WHERE r.id > $after "
                                   "RETURN r {.*} AS r ORDER BY r.id LIMIT $limit",
                               after=after_id or "", limit=limit)
            return [relation_of(x["r"]) for x in found]
        return await self.db.read(fn)
