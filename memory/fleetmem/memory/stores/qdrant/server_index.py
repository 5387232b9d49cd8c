"""`QdrantServerVectorIndex`: the vector tier on a Qdrant server or cluster (qdrant-client).

Same semantics as the embedded `EdgeVectorIndex`: one collection of cosine vectors with
the payload the filters need (namespace, kind, status, created_by, tags, created_at),
indexed on the server. Several fleetmem replicas share it. `url=":memory:"` or
`local_path=` run qdrant-client's local mode (same client API, pure Python), which the
contract tests use as a stand-in where no server can run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
from qdrant_client import AsyncQdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from fleetmem.memory.domain.metadata import canonical
from fleetmem.memory.errors import StorageUnavailable
from fleetmem.memory.ports import MemoryFilter, Vector, VectorPoint
from fleetmem.memory.stores.qdrant.filters import KEYWORD_FIELDS

logger = logging.getLogger(__name__)
_PAGE = 2048


def server_filter(flt: MemoryFilter) -> qm.Filter:
    """Translate a MemoryFilter into a Qdrant filter (namespace scoping always present)."""
    must: list[qm.Condition] = [
        qm.FieldCondition(key="namespace", match=qm.MatchAny(any=list(flt.namespaces)))]
    if flt.as_of is None and flt.statuses:
        must.append(qm.FieldCondition(key="status", match=qm.MatchAny(
            any=[s.value for s in flt.statuses])))
    if flt.kinds:
        must.append(qm.FieldCondition(key="kind", match=qm.MatchAny(any=list(flt.kinds))))
    if flt.tags:
        must.append(qm.FieldCondition(key="tags", match=qm.MatchAny(any=list(flt.tags))))
    if flt.created_by:
        must.append(qm.FieldCondition(key="created_by",
                                      match=qm.MatchValue(value=flt.created_by)))
    for key, value in flt.metadata:  # keys match domain.metadata.KEY_PATTERN: no quoting
        must.append(qm.FieldCondition(key=f"metadata.{key}",
                                      match=qm.MatchValue(value=canonical(value))))
    if flt.created_after or flt.created_before:
        must.append(qm.FieldCondition(key="created_at", range=qm.Range(
            gte=flt.created_after.timestamp() if flt.created_after else None,
            lt=flt.created_before.timestamp() if flt.created_before else None)))
    return qm.Filter(must=must)


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Turn qdrant-client and transport errors into StorageUnavailable."""
    try:
        yield
    except StorageUnavailable:
        raise
    except UnexpectedResponse as exc:
        retry = exc.status_code is not None and (exc.status_code >= 500 or exc.status_code == 429)
        raise StorageUnavailable("qdrant", retryable=retry,
                                 detail=f"HTTP {exc.status_code}: {exc.content[:300]!r}") from exc
    except (ResponseHandlingException, httpx.TransportError, OSError) as exc:
        raise StorageUnavailable("qdrant", retryable=True, detail=str(exc)[:300]) from exc
    except Exception as exc:  # local mode and the gRPC path raise untyped errors
        raise StorageUnavailable("qdrant", retryable=False, detail=str(exc)[:300]) from exc


class QdrantServerVectorIndex:
    """VectorIndex on a Qdrant collection; the collection and payload indexes are created
    on first use (idempotently, so replicas may start together)."""

    def __init__(self, url: str, collection: str, dimension: int,
                 api_key: str | None = None, *, local_path: Path | None = None) -> None:
        self.url = url
        self.collection = collection
        self.dimension = dimension
        self._api_key = api_key or None
        self._local_path = local_path
        self._client: AsyncQdrantClient | None = None
        self._ready = False
        self._lock = asyncio.Lock()

    @property
    def local(self) -> bool:
        """Whether this runs qdrant-client's local mode instead of talking to a server."""
        return self._local_path is not None or self.url == ":memory:"

    def _make_client(self) -> AsyncQdrantClient:
        if self._local_path is not None:
            self._local_path.mkdir(parents=True, exist_ok=True)
            return AsyncQdrantClient(path=str(self._local_path))
        if self.url == ":memory:":
            return AsyncQdrantClient(location=":memory:")
        return AsyncQdrantClient(url=self.url, api_key=self._api_key, timeout=30)

    async def _get(self) -> AsyncQdrantClient:
        """The client, with the collection created on first use."""
        if self._ready and self._client is not None:
            return self._client
        async with self._lock, translated():
            if self._client is None:
                self._client = self._make_client()
            if not self._ready:
                await self._ensure_collection(self._client)
                self._ready = True
        return self._client

    async def _ensure_collection(self, client: AsyncQdrantClient) -> None:
        if not await client.collection_exists(self.collection):
            try:
                await client.create_collection(self.collection, vectors_config=qm.VectorParams(
                    size=self.dimension, distance=qm.Distance.COSINE))
            except UnexpectedResponse as exc:
                # Another replica created it first (409); anything else is an error.
                if exc.status_code != 409:
                    raise
            logger.info("created qdrant collection %s (%d dims)", self.collection,
                        self.dimension)
        info = await client.get_collection(self.collection)
        params = info.config.params.vectors
        size = params.size if isinstance(params, qm.VectorParams) else None
        if size != self.dimension:
            raise StorageUnavailable(
                "qdrant", retryable=False,
                detail=f"collection {self.collection!r} holds {size}-dimensional vectors but "
                       f"the embedder makes {self.dimension}; configure another "
                       "FLEETMEM_VECTOR__COLLECTION or re-create it")
        if self.local:
            return  # local mode has no payload indexes (it scans)
        for field in KEYWORD_FIELDS:
            await client.create_payload_index(self.collection, field,
                                              field_schema=qm.PayloadSchemaType.KEYWORD)
        await client.create_payload_index(self.collection, "created_at",
                                          field_schema=qm.PayloadSchemaType.FLOAT)

    async def open(self) -> None:
        """Connect and create the collection with its payload indexes if needed."""
        await self._get()

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Insert or replace points (waits until the server applied them)."""
        if not points:
            return
        batch = [qm.PointStruct(id=p.id, vector=[float(x) for x in p.vector], payload={
            "namespace": p.namespace, "kind": p.kind, "status": p.status,
            "created_by": p.created_by, "created_at": p.created_at, "tags": list(p.tags),
            "metadata": dict(p.metadata)})
            for p in points]
        client = await self._get()
        async with translated():
            for start in range(0, len(batch), 512):
                await client.upsert(self.collection, points=batch[start:start + 512], wait=True)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove points (missing ids are ignored)."""
        if not ids:
            return
        client = await self._get()
        async with translated():
            await client.delete(self.collection, points_selector=qm.PointIdsList(
                points=list(ids)), wait=True)

    def _beam(self, beam: int | None) -> qm.SearchParams | None:
        """The search parameters for an HNSW `beam` (`hnsw_ef`); none for the local
        (in-process) client, which searches exactly and warns about any beam."""
        return None if beam is None or self.local else qm.SearchParams(hnsw_ef=beam)

    async def search(self, vector: Vector, flt: MemoryFilter, limit: int, *,
                     beam: int | None = None) -> list[tuple[str, float]]:
        """Top `limit` by cosine similarity within the filter; `beam` is the HNSW
        `hnsw_ef` (see the port)."""
        if not flt.namespaces:
            return []
        client = await self._get()
        async with translated():
            response = await client.query_points(
                self.collection, query=[float(x) for x in vector], query_filter=server_filter(flt),
                limit=limit, with_payload=False, with_vectors=False,
                search_params=self._beam(beam))
        return [(str(p.id), float(p.score)) for p in response.points]

    async def search_many(self, vectors: Sequence[Vector], flt: MemoryFilter,
                          limit: int, *, beam: int | None = None
                          ) -> list[list[tuple[str, float]]]:
        """Several searches in one request; `beam` is the HNSW `hnsw_ef` (see the port)."""
        if not flt.namespaces or not vectors:
            return [[] for _ in vectors]
        client = await self._get()
        query_filter = server_filter(flt)
        params = self._beam(beam)
        requests = [qm.QueryRequest(query=[float(x) for x in v], filter=query_filter,
                                        limit=limit, with_payload=False, with_vector=False,
                                        params=params)
                    for v in vectors]
        async with translated():
            responses = await client.query_batch_points(self.collection, requests=requests)
        return [[(str(p.id), float(p.score)) for p in r.points] for r in responses]

    async def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the collection holds."""
        if not ids:
            return set()
        client = await self._get()
        async with translated():
            records = await client.retrieve(self.collection, ids=list(ids), with_payload=False,
                                            with_vectors=False)
        return {str(r.id) for r in records}

    async def all_ids(self) -> set[str]:
        """Every point id (for reconciliation)."""
        client = await self._get()
        out: set[str] = set()
        offset: qm.ExtendedPointId | None = None
        async with translated():
            while True:
                records, offset = await client.scroll(self.collection, limit=_PAGE,
                                                      offset=offset, with_payload=False,
                                                      with_vectors=False)
                out.update(str(r.id) for r in records)
                if offset is None:
                    return out

    async def count(self) -> int:
        """Number of points (exact)."""
        client = await self._get()
        async with translated():
            return (await client.count(self.collection, exact=True)).count

    async def build_index(self, min_unindexed: int) -> int:
        """The server's optimizers index on their own."""
        return 0

    async def flush(self) -> None:
        """Nothing to do: the server persists every acknowledged write in its WAL."""

    async def close(self) -> None:
        """Close the client's connections."""
        client, self._client = self._client, None
        self._ready = False
        if client is not None:
            async with translated():
                await client.close()
