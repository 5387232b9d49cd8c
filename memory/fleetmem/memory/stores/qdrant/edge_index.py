"""`EdgeVectorIndex`: the embedded vector tier on Qdrant Edge (Qdrant's engine in-process).

The active shard lives in one folder, locked by its WAL to this process; with
`seal_points` set, full shards are sealed beside it, then built and merged by a child
process (see `edge_shards`), so no HNSW build runs in the serving process. A driver thread
feeds that background work to the index's thread a short task at a time. It is an index that the
graph can rebuild: the service's startup repair re-upserts whatever it lacks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar, cast

import numpy as np
import qdrant_edge as qe

from fleetmem.memory.domain.metadata import canonical
from fleetmem.memory.errors import StorageUnavailable
from fleetmem.memory.ports import MemoryFilter, Vector, VectorPoint
from fleetmem.memory.stores.qdrant.edge_build import RESCORE, create_payload_indexes
from fleetmem.memory.stores.qdrant.edge_exact import ExactRows, Hit
from fleetmem.memory.stores.qdrant.edge_scope import Scope
from fleetmem.memory.stores.qdrant.edge_shards import ShardSet, Step

logger = logging.getLogger(__name__)
T = TypeVar("T")
IDLE_S = 0.5
"""How often the driver thread looks for background work when none runs."""
GAP_S = 0.005
"""The driver's pause between two export chunks (searches and writes go between)."""
FILL_CHUNK = 256
"""Points of the active shard copied into its `ExactRows` per task on the index's thread."""


def edge_filter(flt: MemoryFilter) -> qe.Filter:
    """Translate a MemoryFilter into an Edge filter (namespace scoping always present)."""
    must: list[qe.FieldCondition | qe.IsEmptyCondition | qe.IsNullCondition |
               qe.HasIdCondition | qe.HasVectorCondition | qe.NestedCondition | qe.Filter] = [
        qe.FieldCondition(key="namespace", match=qe.MatchAny(list(flt.namespaces)))]
    if flt.as_of is None and flt.statuses:
        must.append(qe.FieldCondition(key="status",
                                      match=qe.MatchAny([s.value for s in flt.statuses])))
    if flt.kinds:
        must.append(qe.FieldCondition(key="kind", match=qe.MatchAny(list(flt.kinds))))
    if flt.tags:
        must.append(qe.FieldCondition(key="tags", match=qe.MatchAny(list(flt.tags))))
    if flt.created_by:
        must.append(qe.FieldCondition(key="created_by", match=qe.MatchValue(flt.created_by)))
    for key, value in flt.metadata:  # keys match domain.metadata.KEY_PATTERN: no quoting
        must.append(qe.FieldCondition(key=f"metadata.{key}",
                                      match=qe.MatchValue(canonical(value))))
    if flt.created_after or flt.created_before:
        must.append(qe.FieldCondition(key="created_at", range=qe.RangeFloat(
            gte=flt.created_after.timestamp() if flt.created_after else None,
            lt=flt.created_before.timestamp() if flt.created_before else None)))
    return qe.Filter(must=must)


class EdgeVectorIndex:
    """VectorIndex on a Qdrant Edge shard, with keyword payload indexes for filtering."""

    def __init__(self, path: Path, dimension: int,
                 indexing_threshold_kb: int | None = None, seal_points: int = 0,
                 merge_fan_in: int = 0, merge_max_points: int = 250_000) -> None:
        self.path = path
        self.dimension = dimension
        self.seal_points = seal_points
        """Seal the active shard at this many points (0: one shard, indexed in-process
        by `build_index`)."""
        self._sealed = ShardSet(path.with_name(path.name + ".sealed"), dimension,
                                seal_points, merge_fan_in, merge_max_points)
        self._driver: threading.Thread | None = None
        self._stop = threading.Event()
        self._active_points = 0
        self._optimizers = None if indexing_threshold_kb is None else \
            qe.EdgeOptimizersConfig(indexing_threshold=indexing_threshold_kb)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleetmem-edge")
        self._shard: qe.EdgeShard | None = None
        self._scope = Scope()
        """What the active shard's points may hold (`edge_scope`)."""
        self._exact: ExactRows | None = None
        """With sealing: the active shard's vectors in memory (`edge_exact`), filled by the
        driver thread after an open; searches use it once complete."""
        self._fill_offset: int | uuid.UUID | str | None = None

    def _open_sync(self, *, sealed: bool = True) -> qe.EdgeShard:
        """Open (or create) the active shard, and the sealed ones with `sealed`."""
        config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=self.dimension,
                                                           distance=qe.Distance.Cosine),
                               optimizers=self._optimizers)
        try:
            if (self.path / "edge_config.json").exists() or any(self.path.glob("segments*")):
                shard = qe.EdgeShard.load(str(self.path), config)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                shard = qe.EdgeShard.create(str(self.path), config)
                create_payload_indexes(shard)
            if sealed:
                self._sealed.load()
        except Exception as exc:  # the engine raises plain exceptions (e.g. WAL WouldBlock)
            raise StorageUnavailable("qdrant-edge", retryable=False, detail=str(exc)) from exc
        self._active_points = int(shard.info().points_count)
        self._scope = Scope.of(shard)
        if self.seal_points:
            self._exact = ExactRows(self.dimension, complete=self._active_points == 0)
            self._fill_offset = None
        return shard

    def _shards(self, active: qe.EdgeShard) -> list[qe.EdgeShard]:
        return [active, *(s.shard for s in self._sealed.shards)]

    async def _run(self, fn: Callable[[qe.EdgeShard], T]) -> T:
        def call() -> T:
            if self._shard is None:
                self._shard = self._open_sync()
                if self.seal_points and self._driver is None:
                    self._driver = threading.Thread(target=self._drive, daemon=True,
                                                    name="fleetmem-edge-driver")
                    self._driver.start()
            try:
                return fn(self._shard)
            except StorageUnavailable:
                raise
            except Exception as exc:  # engine errors carry no type hierarchy
                raise StorageUnavailable("qdrant-edge", retryable=False, detail=str(exc)) from exc
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _drive(self) -> None:
        """The driver thread: hands the sealed shards' background work (`ShardSet.step`)
        to the index's thread one short task at a time, and runs the work a step hands
        back (opening a built shard, removing replaced ones) itself, until `close`."""
        delay = IDLE_S
        while not self._stop.wait(delay):
            try:
                work = self._executor.submit(self._tick).result()
            except RuntimeError:  # the executor is shut down
                return
            except Exception:  # logged; the next tick tries again
                logger.exception("background work on the sealed shards failed")
                work = "idle"
            if callable(work):
                work()  # logs its own failure
            delay = 0 if callable(work) else GAP_S if work == "busy" else IDLE_S

    def _tick(self) -> Step:
        if self._shard is None:
            return "idle"
        if self._exact is not None and not self._exact.complete:
            self._fill_exact(self._shard, self._exact)
            return "busy"
        return self._sealed.step()

    def _fill_exact(self, active: qe.EdgeShard, exact: ExactRows) -> None:
        """Copy the next chunk of the active shard's points into `exact` (writes and
        deletes between chunks reach both, so the copy ends equal to the shard)."""
        records, self._fill_offset = active.scroll(qe.ScrollRequest(
            offset=self._fill_offset, limit=FILL_CHUNK, with_payload=True, with_vector=True))
        exact.put((str(r.id), cast("list[float]", r.vector),
                   str((r.payload or {}).get("namespace")), str((r.payload or {}).get("status")))
                  for r in records)
        exact.complete = self._fill_offset is None

    async def open(self) -> None:
        """Create or load the shard."""
        await self._run(lambda s: None)

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Insert or replace points."""
        if not points:
            return
        ids = [p.id for p in points]

        def write(s: qe.EdgeShard) -> None:  # the points are built off the event loop too
            s.update(qe.UpdateOperation.upsert_points([qe.Point(
                p.id, np.asarray(p.vector, dtype=np.float32).tolist(), {
                    "namespace": p.namespace, "kind": p.kind, "status": p.status,
                    "created_by": p.created_by, "created_at": p.created_at,
                    "tags": list(p.tags), "metadata": dict(p.metadata)})
                for p in points]))
            for p in points:  # before any search can see them (searches run on this thread)
                self._scope.add(p.namespace, p.status)
            if self._exact is not None:
                self._exact.put((p.id, p.vector, p.namespace, p.status) for p in points)
            if self._sealed.shards:  # a point lives in one shard: the active one now
                self._sealed.delete(ids)
            self._active_points += len(points)
            if self.seal_points and self._active_points >= self.seal_points:
                self._seal(s)
        await self._run(write)

    def _seal(self, active: qe.EdgeShard) -> None:
        """Seal the active shard (if it is full) and open a new empty one."""
        self._active_points = int(active.info().points_count)
        if self._active_points < self.seal_points:
            return  # re-upserts counted twice
        exact = self._exact if self._exact is not None and self._exact.complete else None
        self._sealed.seal(active, self.path, self._scope, exact)
        self._shard = None
        self._shard = self._open_sync(sealed=False)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove points (missing ids are ignored)."""
        if ids:
            id_list: list[int | uuid.UUID | str] = list(ids)

            def drop(s: qe.EdgeShard) -> None:
                s.update(qe.UpdateOperation.delete_points(id_list))
                if self._exact is not None:
                    self._exact.drop(ids)
                self._sealed.delete(list(ids))
            await self._run(drop)

    async def search(self, vector: Vector, flt: MemoryFilter, limit: int, *,
                     beam: int | None = None) -> list[tuple[str, float]]:
        """Top `limit` by cosine similarity within the filter (left out on a shard whose
        points all pass it, `edge_scope`); `beam` is the indexed shards' `hnsw_ef`, scaled
        by a merged shard's size (`_plan`)."""
        if not flt.namespaces:
            return []
        return (await self.search_many([vector], flt, limit, beam=beam))[0]

    async def search_many(self, vectors: Sequence[Vector], flt: MemoryFilter,
                          limit: int, *, beam: int | None = None
                          ) -> list[list[tuple[str, float]]]:
        """Several searches as one planned batch: exact (brute-force) scoring over the
        unindexed segment is shared, about 4x cheaper than one query per vector; `beam`
        is the indexed shards' `hnsw_ef` (see the port; scaled as in `search`). The filter
        is left out on a shard whose points all pass it, as in `search`. An unindexed
        shard with its vectors in memory (`edge_exact`) is searched there, off the GIL."""
        if not flt.namespaces or not vectors:
            return [[] for _ in vectors]
        matrix = np.asarray([np.asarray(v, dtype=np.float32) for v in vectors])
        return await self._run(lambda s: self._search(s, matrix, flt, limit, beam))

    def _search(self, active: qe.EdgeShard, matrix: np.ndarray, flt: MemoryFilter,
                limit: int, beam: int | None) -> list[list[Hit]]:
        queries: list[qe.Query] = []
        per_shard: list[list[list[Hit]]] = []
        for shard, f, params, exact in self._plan(active, flt, beam):
            if exact is not None:
                per_shard.append(exact.search(matrix, flt, limit))
                continue
            queries = queries or [qe.Query.Nearest(v.tolist()) for v in matrix]
            requests = [qe.QueryRequest(limit=limit, query=q, filter=f, params=params,
                                        with_payload=False) for q in queries]
            found = [shard.query(requests[0])] if len(requests) == 1 else \
                shard.query_batch(qe.QueryBatchRequest(requests))
            per_shard.append([[(str(h.id), float(h.score)) for h in r] for r in found])
        return [_merge([r[i] for r in per_shard], limit) for i in range(len(matrix))]

    def _plan(self, active: qe.EdgeShard, flt: MemoryFilter, beam: int | None
              ) -> list[tuple[qe.EdgeShard, qe.Filter | None, qe.SearchParams,
                              ExactRows | None]]:
        """Each shard with the filter it needs (None: all its points pass, `edge_scope`),
        its search parameters: `beam` times the shard's size in seals (a merged shard
        of 200k points searched with a beam of 48 held 8.5 of an exact top 10, with 192
        9.8, as four 50k shards with 48 each; bench/OTHER_RUNS.md), and the copy of its
        vectors that answers instead, if any (`edge_exact`)."""
        filtered = edge_filter(flt)

        def copy(exact: ExactRows | None) -> ExactRows | None:
            return exact if exact is not None and exact.answers(flt) else None
        plan = [(active, None if self._scope.passes(flt) else filtered,
                 self._params(beam, 0), copy(self._exact))]
        plan.extend((x.shard, None if x.scope.passes(flt) else filtered,
                     self._params(beam, x.points), None if x.indexed else copy(x.exact))
                    for x in self._sealed.shards)
        return plan

    def _params(self, beam: int | None, points: int) -> qe.SearchParams:
        if beam is not None and self.seal_points:
            beam *= max(1, round(points / self.seal_points))
        return qe.SearchParams(hnsw_ef=beam, quantization=RESCORE)

    async def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the shard holds."""
        if not ids:
            return set()
        id_list: list[int | uuid.UUID | str] = list(ids)
        recs = await self._run(lambda s: [r for x in self._shards(s) for r in x.retrieve(
            id_list, with_payload=False, with_vector=False)])
        return {str(r.id) for r in recs}

    async def all_ids(self) -> set[str]:
        """Every point id (for reconciliation)."""
        def scan(s: qe.EdgeShard) -> set[str]:
            out: set[str] = set()
            for shard in self._shards(s):
                offset: int | uuid.UUID | str | None = None
                while True:
                    recs, offset = shard.scroll(qe.ScrollRequest(
                        offset=offset, limit=2048, with_payload=False, with_vector=False))
                    out.update(str(r.id) for r in recs)
                    if offset is None:
                        break
            return out
        return await self._run(scan)

    async def count(self) -> int:
        """Number of points."""
        return await self._run(lambda s: sum(x.count(qe.CountRequest(exact=True))
                                             for x in self._shards(s)))

    async def flush(self) -> None:
        """Persist pending segment changes."""
        def flush(s: qe.EdgeShard) -> None:
            for shard in self._shards(s):
                shard.flush()
        await self._run(flush)

    async def build_index(self, min_unindexed: int) -> int:
        """Build HNSW when enough points are unindexed. With sealing on, nothing is built
        here: a full active shard is sealed and indexed by a child process (returns 0).
        Without, the build blocks the process (see settings)."""
        def fn(s: qe.EdgeShard) -> int:
            if self.seal_points:
                if self._active_points >= self.seal_points:
                    self._seal(s)
                return 0
            info = s.info()
            unindexed = int(info.points_count) - int(info.indexed_vectors_count)
            if min_unindexed <= 0 or unindexed < min_unindexed:
                return 0
            logger.warning("building the vector index over %d points; the process pauses "
                           "until it is done", unindexed)
            s.optimize()
            # Segments under the engine's indexing threshold stay exact: count what was built.
            return max(0, int(s.info().indexed_vectors_count) - int(info.indexed_vectors_count))
        return await self._run(fn)

    async def close(self) -> None:
        """Flush and release the shard and its lock."""
        def shut(s: qe.EdgeShard) -> None:
            s.flush()
            s.close()
            self._shard = None
            self._sealed.close()
        self._stop.set()
        if self._driver is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._driver.join)
        if self._shard is not None:
            await self._run(shut)
        self._executor.shutdown(wait=True)

    async def wait_indexed(self) -> None:
        """Wait until the active shard's copy in memory is filled, every sealed shard is
        built and in use, and no merge is due (tests, benchmarks)."""
        def fn(s: qe.EdgeShard) -> None:
            while self._exact is not None and not self._exact.complete:
                self._fill_exact(s, self._exact)
            self._sealed.wait()
        await self._run(fn)

    async def in_memory_points(self) -> int:
        """Points searched from a copy in memory (`edge_exact`) rather than by Qdrant
        Edge: the active shard's once filled, and unbuilt sealed shards' it handed on."""
        def fn(s: qe.EdgeShard) -> int:
            copies = [self._exact, *(x.exact for x in self._sealed.shards if not x.indexed)]
            return sum(len(c) for c in copies if c is not None and c.complete)
        return await self._run(fn)

    async def run_background(self) -> list[str]:
        """Run one step of the sealed shards' background work now, as the driver thread
        would (tests); the names of the shards the job under way reads."""
        def fn(s: qe.EdgeShard) -> tuple[Step, list[str]]:
            return self._sealed.step(), self._sealed.job_sources()
        work, sources = await self._run(fn)
        if callable(work):
            await asyncio.get_running_loop().run_in_executor(None, work)
        return sources

    async def shard_counts(self) -> list[tuple[int, bool]]:
        """(points, indexed) of the active shard then of each sealed one."""
        def fn(s: qe.EdgeShard) -> list[tuple[int, bool]]:
            return [(int(s.info().points_count), False), *(
                (int(x.shard.info().points_count), x.indexed) for x in self._sealed.shards)]
        return await self._run(fn)


def _merge(results: list[list[Hit]], limit: int) -> list[Hit]:
    """The best `limit` of several shards' answers (a point lives in one shard)."""
    if len(results) == 1:
        return results[0]
    return sorted((h for r in results for h in r), key=lambda h: -h[1])[:limit]
