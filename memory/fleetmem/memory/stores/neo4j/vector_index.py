"""`Neo4jVectorIndex`: the vector tier inside Neo4j, so replicas sharing one Neo4j share
their vectors too (no vector server to run beside it).

Each point is one `(:MemoryVector {collection, id, namespace, kind, status, created_by,
created_at, tags, metadata, embedding_<dim>})` node, apart from the graph's `:Memory`
nodes (the vector tier stays an index rebuildable from the graph). Neo4j 5's native
vector index (HNSW, cosine) over `embedding_<dim>` answers searches: it is asked for
more neighbours than wanted (`OVERSAMPLE`), the namespace and the other filters are
applied to what it returns, and the survivors are ranked by their exact cosine (the
index's own scores come from quantised vectors). When fewer than `limit` survive, the
search runs exactly over the filtered points instead. So no point of another namespace
or collection ever reaches a result or a count, and a filter never takes a result's slot.

Scores are plain cosine similarity in [-1, 1] like the Qdrant backends (Neo4j reports
`(1 + cosine) / 2`; it is mapped back). Dimension and the filters' values are parameters
or checked integers, never user text in Cypher.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from fleetmem.memory.domain.metadata import canonical
from fleetmem.memory.errors import StorageUnavailable
from fleetmem.memory.ports import MemoryFilter, Vector, VectorPoint
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows, run

logger = logging.getLogger(__name__)
OVERSAMPLE = 10
"""The vector index is asked for `limit * OVERSAMPLE` (at least 100) neighbours."""
_BATCH = 500
_COLLECTION = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _where(flt: MemoryFilter) -> tuple[str, dict[str, Any]]:
    """The filter as a Cypher predicate over `v` and its parameters (namespace and
    collection always present)."""
    parts = ["v.collection = $collection", "v.namespace IN $namespaces"]
    params: dict[str, Any] = {"namespaces": list(flt.namespaces)}
    if flt.as_of is None and flt.statuses:
        parts.append("v.status IN $statuses")
        params["statuses"] = [s.value for s in flt.statuses]
    if flt.kinds:
        parts.append("v.kind IN $kinds")
        params["kinds"] = list(flt.kinds)
    if flt.tags:
        parts.append("any(t IN v.tags WHERE t IN $tags)")
        params["tags"] = list(flt.tags)
    if flt.created_by:
        parts.append("v.created_by = $created_by")
        params["created_by"] = flt.created_by
    if flt.metadata:
        parts.append("all(p IN $metadata WHERE p IN v.metadata)")
        params["metadata"] = [_pair(k, canonical(value)) for k, value in flt.metadata]
    if flt.created_after:
        parts.append("v.created_at >= $after")
        params["after"] = flt.created_after.timestamp()
    if flt.created_before:
        parts.append("v.created_at < $before")
        params["before"] = flt.created_before.timestamp()
    return " AND ".join(parts), params


def _pair(key: str, value: str) -> str:
    """One metadata pair as stored: key, a NUL, the canonical JSON value."""
    return f"{key}\x00{value}"


class Neo4jVectorIndex:
    """VectorIndex on Neo4j 5.x nodes with a native vector index; several replicas may
    open it at once (schema statements are idempotent)."""

    def __init__(self, uri: str, user: str, password: str, database: str,
                 collection: str, dimension: int) -> None:
        if not _COLLECTION.match(collection):
            raise StorageUnavailable("neo4j", retryable=False, detail=(
                f"vector.collection {collection!r} must be 1-128 letters, digits, '_', "
                "'.' or '-'"))
        self.db = Neo4jConnection(uri, user, password, database)
        self.collection = collection
        self.dimension = int(dimension)
        self.prop = f"embedding_{self.dimension}"
        self.index_name = f"fleetmem_vectors_{self.dimension}"
        self._open = False
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect and create the id constraint and the vector index (idempotent)."""
        async with self._lock:
            if not self._open:
                await self._create()

    async def _create(self) -> None:
        await self.db.open()
        await self.db.schema([
            "CREATE CONSTRAINT fleetmem_vector_id IF NOT EXISTS "
            "FOR (v:MemoryVector) REQUIRE (v.collection, v.id) IS UNIQUE",
            "CREATE INDEX fleetmem_vector_ns IF NOT EXISTS "
            "FOR (v:MemoryVector) ON (v.collection, v.namespace)",
            f"CREATE VECTOR INDEX {self.index_name} IF NOT EXISTS "
            f"FOR (v:MemoryVector) ON (v.{self.prop}) OPTIONS {{indexConfig: {{"
            f"`vector.dimensions`: {self.dimension}, "
            "`vector.similarity_function`: 'cosine'}}",
            "CALL db.awaitIndexes(300)",
        ])
        self._open = True
        logger.info("neo4j vector index %s open (collection %s)", self.index_name,
                    self.collection)

    async def _ready(self) -> Neo4jConnection:
        if not self._open:
            await self.open()
        return self.db

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Insert or replace points, in one transaction per 500."""
        if not points:
            return
        db = await self._ready()
        batch = [{"id": p.id, "namespace": p.namespace, "kind": p.kind, "status": p.status,
                  "created_by": p.created_by, "created_at": float(p.created_at),
                  "tags": list(p.tags), "metadata": [_pair(k, v) for k, v in p.metadata],
                  "vector": [float(x) for x in p.vector]} for p in points]
        for start in range(0, len(batch), _BATCH):
            chunk = batch[start:start + _BATCH]

            async def fn(tx: Tx, chunk: list[dict[str, Any]] = chunk) -> None:
                await run(tx, f"""
                    UNWIND $points AS p
                    MERGE (v:MemoryVector {{collection: $collection, id: p.id}})
                    SET v.namespace = p.namespace, v.kind = p.kind, v.status = p.status,
                        v.created_by = p.created_by, v.created_at = p.created_at,
                        v.tags = p.tags, v.metadata = p.metadata
                    WITH v, p CALL db.create.setNodeVectorProperty(v, '{self.prop}', p.vector)
                    """, points=chunk, collection=self.collection)
            await db.write(fn)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove points (missing ids are ignored)."""
        if not ids:
            return
        db = await self._ready()

        async def fn(tx: Tx) -> None:
            await run(tx, "UNWIND $ids AS id MATCH (v:MemoryVector "
                          "{collection: $collection, id: id}) DELETE v",
                      ids=list(ids), collection=self.collection)
        await db.write(fn)

    async def _search_tx(self, tx: Tx, vector: list[float], where: str,
                         params: dict[str, Any], limit: int) -> list[tuple[str, float]]:
        found = await rows(tx, f"""
            CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node AS v
            WHERE {where}
            WITH v, vector.similarity.cosine(v.{self.prop}, $vector) AS score
            RETURN v.id AS id, score ORDER BY score DESC, id LIMIT $limit
            """, index=self.index_name, k=max(100, limit * OVERSAMPLE), vector=vector,
            limit=limit, collection=self.collection, **params)
        if len(found) < limit:  # the filters left too few: rank the filtered points exactly
            found = await rows(tx, f"""
                MATCH (v:MemoryVector) WHERE {where}
                WITH v, vector.similarity.cosine(v.{self.prop}, $vector) AS score
                RETURN v.id AS id, score ORDER BY score DESC, id LIMIT $limit
                """, vector=vector, limit=limit, collection=self.collection, **params)
        return [(str(r["id"]), 2.0 * float(r["score"]) - 1.0) for r in found]

    async def search(self, vector: Vector, flt: MemoryFilter, limit: int, *,
                     beam: int | None = None) -> list[tuple[str, float]]:
        """Top `limit` by cosine similarity within the filter (`beam` is ignored, as in
        `search_many`)."""
        return (await self.search_many([vector], flt, limit, beam=beam))[0]

    async def search_many(self, vectors: Sequence[Vector], flt: MemoryFilter,
                          limit: int, *, beam: int | None = None
                          ) -> list[list[tuple[str, float]]]:
        """Several searches in one read transaction (one round trip each); Neo4j's vector
        index has no search beam to set, so `beam` is ignored."""
        del beam
        if not flt.namespaces or not vectors or limit <= 0:
            return [[] for _ in vectors]
        db = await self._ready()
        where, params = _where(flt)
        queries = [[float(x) for x in v] for v in vectors]

        async def fn(tx: Tx) -> list[list[tuple[str, float]]]:
            return [await self._search_tx(tx, q, where, params, limit) for q in queries]
        return await db.read(fn)

    async def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the collection holds."""
        if not ids:
            return set()
        db = await self._ready()

        async def fn(tx: Tx) -> set[str]:
            found = await rows(tx, "UNWIND $ids AS id MATCH (v:MemoryVector "
                                   "{collection: $collection, id: id}) RETURN v.id AS id",
                               ids=list(ids), collection=self.collection)
            return {str(r["id"]) for r in found}
        return await db.read(fn)

    async def all_ids(self) -> set[str]:
        """Every point id of the collection (for reconciliation)."""
        db = await self._ready()

        async def fn(tx: Tx) -> set[str]:
            found = await rows(tx, "MATCH (v:MemoryVector {collection: $collection}) "
                                   "RETURN v.id AS id", collection=self.collection)
            return {str(r["id"]) for r in found}
        return await db.read(fn)

    async def count(self) -> int:
        """Number of points in the collection."""
        db = await self._ready()

        async def fn(tx: Tx) -> int:
            found = await rows(tx, "MATCH (v:MemoryVector {collection: $collection}) "
                                   "RETURN count(v) AS n", collection=self.collection)
            return int(found[0]["n"])
        return await db.read(fn)

    async def build_index(self, min_unindexed: int) -> int:
        """Neo4j maintains its vector index on every commit."""
        return 0

    async def flush(self) -> None:
        """Nothing to do: every acknowledged write is committed in Neo4j."""

    async def close(self) -> None:
        """Close the driver."""
        self._open = False
        await self.db.close()
