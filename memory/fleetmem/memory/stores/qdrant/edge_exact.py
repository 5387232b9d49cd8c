"""`ExactRows`: an unindexed shard's vectors in memory, searched exactly with numpy.

Qdrant Edge searches a shard without an HNSW index (the active shard, and a sealed one
until its build is done) by scoring every point, and holds the Python GIL while it does:
a near-duplicate lookup of 64 vectors over 50k points took 200 ms, one recall's query
9.2 ms, and the model's thread and the event loop waited meanwhile. The same search as one
matrix product over a float32 copy of the vectors took 43-53 ms and 6 ms, with the GIL
released by BLAS (bench/OTHER_RUNS.md, issue 22).

The copy is derived, never a source: it is filled from the shard it mirrors (a scroll,
a chunk at a time, while the shard keeps answering), kept by the same upserts and deletes
on the index's thread, and dropped with the shard. It answers only filters that name
namespaces and statuses alone (`MemoryFilter.scope_only`: every recall's default and
every near-duplicate lookup); any other filter is Qdrant Edge's. Its scores are Qdrant's
cosine: both sides at unit length, one dot product.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from fleetmem.memory.ports import MemoryFilter, Vector

Hit = tuple[str, float]


class ExactRows:
    """Vectors with each point's namespace and status, by point id (see the module)."""

    def __init__(self, dimension: int, *, complete: bool = False) -> None:
        self.dimension = dimension
        self.complete = complete
        """Every point of the shard is here (it may answer searches)."""
        self._vectors = np.zeros((0, dimension), dtype=np.float32)
        self._namespace = np.zeros(0, dtype=np.int32)
        self._status = np.zeros(0, dtype=np.int32)
        self._alive = np.zeros(0, dtype=bool)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._namespaces: dict[str, int] = {}
        self._statuses: dict[str, int] = {}
        self._size = 0

    def __len__(self) -> int:
        return len(self._row)

    def put(self, points: Iterable[tuple[str, Vector | Sequence[float], str, str]]) -> None:
        """Add or replace points: (id, vector, namespace, status)."""
        for point_id, vector, namespace, status in points:
            row = self._row.get(point_id)
            if row is None:
                row = self._append(point_id)
            v = np.asarray(vector, dtype=np.float32)
            norm = float(np.linalg.norm(v))
            self._vectors[row] = v / norm if norm > 0 else v
            self._namespace[row] = self._namespaces.setdefault(namespace, len(self._namespaces))
            self._status[row] = self._statuses.setdefault(status, len(self._statuses))
            self._alive[row] = True

    def drop(self, ids: Iterable[str]) -> None:
        """Remove points (missing ids are ignored); the rows are reused by a compaction."""
        for point_id in ids:
            row = self._row.pop(point_id, None)
            if row is not None:
                self._alive[row] = False
        if self._size > 1024 and len(self._row) < self._size // 2:
            self._compact()

    def search(self, queries: npt.NDArray[np.float32], flt: MemoryFilter,
               limit: int) -> list[list[Hit]]:
        """The best `limit` (id, cosine) within the filter's namespaces and statuses, best
        first, for each query row (`answers(flt)` must hold)."""
        n = self._size
        if n == 0 or limit <= 0:
            return [[] for _ in range(len(queries))]
        q = np.asarray(queries, dtype=np.float32)
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        q = (q / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)
        scores = q @ self._vectors[:n].T  # BLAS: the GIL is released
        keep = self._alive[:n] \
            & _allowed(self._namespace[:n], self._namespaces, flt.namespaces) \
            & _allowed(self._status[:n], self._statuses, [s.value for s in flt.statuses])
        scores[:, ~keep] = -np.inf
        k = min(limit, int(keep.sum()))
        if k == 0:
            return [[] for _ in range(len(q))]
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        out: list[list[Hit]] = []
        for i, rows in enumerate(top):
            best = rows[np.argsort(-scores[i, rows], kind="stable")]
            out.append([(self._ids[r], float(scores[i, r])) for r in best])
        return out

    def answers(self, flt: MemoryFilter) -> bool:
        """Whether this copy may answer a search with `flt` (see the module)."""
        return self.complete and flt.scope_only

    def _append(self, point_id: str) -> int:
        if self._size == len(self._vectors):
            grow = max(1024, len(self._vectors))
            self._vectors = np.concatenate(
                [self._vectors, np.zeros((grow, self.dimension), dtype=np.float32)])
            self._namespace = np.concatenate([self._namespace, np.zeros(grow, np.int32)])
            self._status = np.concatenate([self._status, np.zeros(grow, np.int32)])
            self._alive = np.concatenate([self._alive, np.zeros(grow, dtype=bool)])
        row = self._size
        self._size += 1
        self._ids.append(point_id)
        self._row[point_id] = row
        return row

    def _compact(self) -> None:
        rows = np.flatnonzero(self._alive[:self._size])
        self._vectors = self._vectors[rows].copy()
        self._namespace = self._namespace[rows].copy()
        self._status = self._status[rows].copy()
        self._alive = np.ones(len(rows), dtype=bool)
        self._ids = [self._ids[r] for r in rows]
        self._row = {point_id: i for i, point_id in enumerate(self._ids)}
        self._size = len(rows)


def _allowed(column: npt.NDArray[np.int32], codes: dict[str, int],
             values: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Rows whose value (by its code in `codes`) is one of `values`."""
    wanted = {codes[v] for v in values if v in codes}
    if len(wanted) == len(codes):
        return np.ones(len(column), dtype=bool)
    return np.isin(column, np.fromiter(wanted, dtype=np.int32, count=len(wanted)))
