"""Unindexed shards searched from a copy of their vectors in memory (issue 22,
`stores/qdrant/edge_exact.py`): the copy answers a namespace-and-status search exactly as
Qdrant Edge's own exact search does (same ids, same cosine), through writes, replacements,
deletes, a seal and a restart; other filters stay Qdrant Edge's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import MemoryFilter, VectorPoint
from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex
from tests.support.vector_points import DIM, unit_points

A, B = "agent:alice", "team:ops"
Hits = list[list[tuple[str, float]]]


def _workload() -> tuple[list[VectorPoint], list[VectorPoint], list[str]]:
    """Points in two namespaces, some archived; replacements (new vectors, one moved to
    the other namespace); ids to delete."""
    points = [*unit_points(300, A, start=0), *unit_points(200, B, start=1000),
              *unit_points(100, A, start=2000, status="archived")]
    fresh = unit_points(40, A, start=0, seed=77)  # ids 1-40 again, other vectors
    moved = [replace(p, namespace=B) for p in fresh[:10]]
    return points, [*moved, *fresh[10:]], [p.id for p in points[50:90]]


async def _apply(index: EdgeVectorIndex, step: int) -> None:
    points, replaced, deleted = _workload()
    for i in range(0, len(points), step):
        await index.upsert(points[i:i + step])
    await index.upsert(replaced)
    await index.delete(deleted)


def _queries() -> list[np.ndarray]:
    points, replaced, _ = _workload()
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((20, DIM)).astype(np.float32)
    return [*(p.vector for p in points[::37]), *(p.vector for p in replaced[::9]), *noise]


FILTERS = [
    MemoryFilter(namespaces=(A,)),
    MemoryFilter(namespaces=(B,)),
    MemoryFilter(namespaces=(A, B)),
    MemoryFilter(namespaces=(A, B), statuses=(MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED)),
    MemoryFilter(namespaces=(A,), statuses=(MemoryStatus.ARCHIVED,)),
    MemoryFilter(namespaces=("agent:nobody",)),
]


async def _answers(index: EdgeVectorIndex) -> list[Hits]:
    out: list[Hits] = []
    for flt in FILTERS:
        out.append(await index.search_many(_queries(), flt, 12))
        out.append([await index.search(v, flt, 5) for v in _queries()[:6]])
    return out


def _same(got: list[Hits], want: list[Hits]) -> None:
    for g_all, w_all in zip(got, want, strict=True):
        for g, w in zip(g_all, w_all, strict=True):
            assert [i for i, _ in g] == [i for i, _ in w]
            assert np.allclose([s for _, s in g], [s for _, s in w], atol=1e-5)


async def test_the_copy_in_memory_answers_as_qdrant_edge_does(tmp_path: Path) -> None:
    plain = EdgeVectorIndex(tmp_path / "plain", DIM)  # one shard, no copy: Qdrant Edge
    copied = EdgeVectorIndex(tmp_path / "copied", DIM, seal_points=10_000)
    await _apply(plain, 64)
    await _apply(copied, 64)
    assert await copied.in_memory_points() == await copied.count() == 560
    want = await _answers(plain)
    assert sum(len(h) for hits in want for h in hits) > 0
    _same(await _answers(copied), want)

    # a filter naming more than namespaces and statuses is Qdrant Edge's, same answers
    flt = MemoryFilter(namespaces=(A, B), kinds=("fact",))
    assert await copied.search_many(_queries(), flt, 8) == \
        await plain.search_many(_queries(), flt, 8)

    # after a restart the copy is filled again from the shard (by the driver thread;
    # `wait_indexed` here), and answers the same; searches before that are Qdrant Edge's
    await copied.close()
    reopened = EdgeVectorIndex(tmp_path / "copied", DIM, seal_points=10_000)
    _same(await _answers(reopened), want)
    await reopened.wait_indexed()
    assert await reopened.in_memory_points() == 560
    _same(await _answers(reopened), want)
    await reopened.close()
    await plain.close()


async def test_a_sealed_shard_keeps_its_copy_until_it_is_built(tmp_path: Path) -> None:
    plain = EdgeVectorIndex(tmp_path / "plain", DIM)
    sealed = EdgeVectorIndex(tmp_path / "sealed", DIM, seal_points=250)
    await _apply(plain, 50)
    await _apply(sealed, 50)
    # sealed at 250 (one or two sealed shards, not yet built: their copies answer)
    counts = await sealed.shard_counts()
    assert len(counts) >= 2 and not any(built for _, built in counts[1:])
    assert await sealed.in_memory_points() == await sealed.count() == 560
    want = await _answers(plain)
    _same(await _answers(sealed), want)
    await sealed.wait_indexed()  # built: searched by HNSW, the copies dropped
    after = await sealed.shard_counts()
    assert all(built for _, built in after[1:])
    assert await sealed.in_memory_points() == after[0][0]  # the active shard's alone
    await sealed.close()
    await plain.close()
