"""Sealed shards of the embedded vector tier (issue 22): the active Qdrant Edge shard is
sealed at `seal_points` and a child process builds its HNSW index while the index keeps
answering; deletes made during a build are replayed on the built copy; the built shards
and their markers survive a restart (nothing is built again), and every point is found."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from fleetmem.memory.ports import MemoryFilter, VectorPoint
from fleetmem.memory.services.memories.recall import dense_beam
from fleetmem.memory.stores.qdrant.edge_build import INDEX_VERSION
from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex
from tests.support.vector_points import DIM, unit_points

NS = "agent:alice"


def _points(n: int) -> list[VectorPoint]:
    return unit_points(n, NS, seed=22)


async def _all_found(index: EdgeVectorIndex, points: list[VectorPoint],
                     beam: int | None = None) -> bool:
    flt = MemoryFilter(namespaces=(NS,))
    hits = await index.search_many([p.vector for p in points], flt, 1, beam=beam)
    return all(h and h[0][0] == p.id for p, h in zip(points, hits, strict=True))


async def _filled(tmp_path: Path, n: int, step: int
                  ) -> tuple[list[VectorPoint], EdgeVectorIndex]:
    """An index sealing at 100 points, given `n` points `step` at a time."""
    points = _points(n)
    index = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    for i in range(0, n, step):
        await index.upsert(points[i:i + step])
    return points, index


async def test_sealed_shards_are_indexed_by_a_child_and_survive_a_restart(
        tmp_path: Path) -> None:
    points, index = await _filled(tmp_path, 250, 25)
    shards = await index.shard_counts()
    assert [n for n, _ in shards] == [50, 100, 100]
    await index.delete([points[3].id, points[120].id])  # during the first build
    assert await index.count() == 248
    assert await _all_found(index, points[4:120] + points[121:])
    await index.wait_indexed()
    assert [x for _, x in (await index.shard_counts())[1:]] == [True, True]
    assert await index.count() == 248
    assert not {points[3].id, points[120].id} & await index.all_ids()
    assert await _all_found(index, points[4:120] + points[121:])
    # the near-duplicate lookup's small beam still finds each point itself, first
    assert await _all_found(index, points[4:120] + points[121:], beam=4)
    # and so does recall's dense search with its beam (`recall.dense_beam`)
    flt = MemoryFilter(namespaces=(NS,))
    for p in points[130:250:10]:
        assert (await index.search(p.vector, flt, 40, beam=dense_beam(40)))[0][0] == p.id
    # a re-upserted point moves to the active shard (one shard holds it)
    await index.upsert([points[5]])
    assert await index.count() == 248
    await index.close()

    for folder in ("1", "2"):  # the built copies are the sealed shards now, HNSW included
        shard = qe.EdgeShard.load(str(tmp_path / "vectors.sealed" / folder))
        assert shard.info().indexed_vectors_count >= 98
        shard.close()
    again = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    try:
        shards = await again.shard_counts()
        assert [n for n, _ in shards] == [51, 98, 99] and all(x for _, x in shards[1:])
        assert await _all_found(again, points[4:120] + points[121:])
    finally:
        await again.close()


async def test_a_build_cut_short_by_close_runs_again_at_the_next_open(tmp_path: Path) -> None:
    points = _points(120)
    index = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    await index.upsert(points[:100])  # sealed; its build starts
    await index.close()  # stops the build and drops its copy
    assert not list((tmp_path / "vectors.sealed").glob("*.building"))
    again = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    try:
        await again.upsert(points[100:])
        await again.wait_indexed()
        assert [x for _, x in (await again.shard_counts())[1:]] == [True]
        assert await again.count() == 120 and await _all_found(again, points)
    finally:
        await again.close()


async def test_built_shards_search_int8_vectors_and_return_exact_similarities(
        tmp_path: Path) -> None:
    points, index = await _filled(tmp_path, 230, 23)
    await index.wait_indexed()
    marker = tmp_path / "vectors.sealed" / "1.indexed"
    assert marker.read_text() == INDEX_VERSION
    config = json.loads((tmp_path / "vectors.sealed" / "1" / "edge_config.json").read_text())
    assert "int8" in json.dumps(config).lower()
    flt = MemoryFilter(namespaces=(NS,))
    matrix = np.stack([np.asarray(p.vector) for p in points])
    for p in points[:200:9]:  # in the two built shards
        hits = await index.search(p.vector, flt, 5)
        assert hits[0][0] == p.id
        by_id = {q.id: i for i, q in enumerate(points)}
        for mid, score in hits:  # rescored: the float vectors' cosine, not the int8 one
            assert abs(score - float(matrix[by_id[mid]] @ np.asarray(p.vector))) < 1e-5
    await index.close()


async def test_a_shard_built_by_an_earlier_release_is_built_again(tmp_path: Path) -> None:
    points = _points(120)
    index = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    await index.upsert(points)
    await index.wait_indexed()
    await index.close()
    marker = tmp_path / "vectors.sealed" / "1.indexed"
    marker.write_text("")  # what releases before the int8 vectors wrote
    again = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    try:
        assert [x for _, x in (await again.shard_counts())[1:]] == [False]
        assert await _all_found(again, points)  # answered meanwhile
        await again.wait_indexed()
        assert [x for _, x in (await again.shard_counts())[1:]] == [True]
        assert marker.read_text() == INDEX_VERSION
        assert await _all_found(again, points)
    finally:
        await again.close()
