"""Sealed shards of the embedded vector tier (issue 22): the active Qdrant Edge shard is
sealed at `seal_points` and a child process builds its HNSW index while the index keeps
answering; deletes made during a build are replayed on the built shard; the built shards
and their markers survive a restart (nothing is built again), and every point is found.
Built shards of one size tier are merged into one by the same job; a process stopped at
any point of a merge loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
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

    folders = _sealed_folders(tmp_path)
    assert len(folders) == 2
    for folder in folders:  # the built shards are the sealed shards now, HNSW included
        shard = qe.EdgeShard.load(str(folder))
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
    await index.run_background()  # its export starts
    await index.close()  # stops the build and drops its files
    assert sorted(p.name for p in (tmp_path / "vectors.sealed").iterdir()) == ["1"]
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
    first = _sealed_folders(tmp_path)[0]
    marker = first.with_name(first.name + ".indexed")
    assert marker.read_text() == INDEX_VERSION
    config = json.loads((first / "edge_config.json").read_text())
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
    first = _sealed_folders(tmp_path)[0]
    marker = first.with_name(first.name + ".indexed")
    marker.write_text("")  # what releases before the int8 vectors wrote
    again = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    try:
        assert [x for _, x in (await again.shard_counts())[1:]] == [False]
        assert await _all_found(again, points)  # answered meanwhile
        await again.wait_indexed()
        assert [x for _, x in (await again.shard_counts())[1:]] == [True]
        assert not marker.exists()  # built again as a new shard, which replaced it
        rebuilt = _sealed_folders(tmp_path)[0]
        assert rebuilt.with_name(rebuilt.name + ".indexed").read_text() == INDEX_VERSION
        assert await _all_found(again, points)
    finally:
        await again.close()


def _sealed_folders(tmp_path: Path) -> list[Path]:
    """The sealed shards' folders, in number order."""
    return sorted((p for p in (tmp_path / "vectors.sealed").iterdir() if p.name.isdigit()),
                  key=lambda p: int(p.name))


async def _merging(index: EdgeVectorIndex) -> list[str]:
    """Step the background work until a merge's export has begun; its sources."""
    for _ in range(12_000):  # builds take a second or two each
        sources = await index.run_background()
        if len(sources) > 1:
            return sources
        await asyncio.sleep(0.01)
    raise AssertionError("no merge began")


async def test_shards_of_one_tier_are_merged_and_deletes_made_meanwhile_stay_deleted(
        tmp_path: Path) -> None:
    points = _points(450)
    index = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100, merge_fan_in=2)
    try:
        for i in range(0, 450, 50):
            await index.upsert(points[i:i + 50])
        assert [n for n, _ in await index.shard_counts()] == [50, 100, 100, 100, 100]
        sources = await _merging(index)  # the first two, once both are built
        assert len(sources) == 2
        gone = [points[7].id, points[150].id]  # one in each source
        await index.delete(gone)
        await index.upsert([points[8]])  # moves to the active shard
        await index.wait_indexed()
        # two merges of two (tier 1), then one of those two (tier 2)
        shards = await index.shard_counts()
        assert shards == [(51, False), (397, True)]
        folders = _sealed_folders(tmp_path)
        assert len(folders) == 1 and sorted(p.name for p in folders[0].parent.iterdir()) == \
            [folders[0].name, folders[0].name + ".indexed"]
        kept = [p for p in points if p.id not in gone]
        assert await index.count() == 448 and await _all_found(index, kept)
        assert await _all_found(index, kept, beam=4)  # scaled by the merged shard's size
        assert not set(gone) & await index.all_ids()
        # the merged shard keeps the payload indexes that filters (and scopes) use
        kinds = MemoryFilter(namespaces=(NS,), kinds=("fact",))
        assert (await index.search(points[300].vector, kinds, 1))[0][0] == points[300].id
        hits = await index.search(points[300].vector, MemoryFilter(namespaces=("agent:bob",)), 5)
        assert hits == []
    finally:
        await index.close()
    again = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100, merge_fan_in=2)
    try:
        assert await again.shard_counts() == [(51, False), (397, True)]
        assert await _all_found(again, [p for p in points if p.id not in gone])
    finally:
        await again.close()


async def test_no_merge_makes_a_shard_larger_than_merge_max_points(tmp_path: Path) -> None:
    points = _points(450)
    index = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100, merge_fan_in=2,
                            merge_max_points=250)
    try:
        for i in range(0, 450, 50):
            await index.upsert(points[i:i + 50])
        await index.wait_indexed()
        # two merges of 200 points each; a third would make 400
        assert await index.shard_counts() == [(50, False), (200, True), (200, True)]
        assert await _all_found(index, points)
    finally:
        await index.close()


STOPPED = textwrap.dedent("""
    import asyncio, os, shutil, sys
    from pathlib import Path
    from fleetmem.memory.stores.qdrant import edge_files
    from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex
    from tests.support.vector_points import DIM, unit_points

    where = sys.argv[2]
    if where != "build":  # stop the process part-way through the swap
        real = edge_files.remove_sources
        def remove(root, target, sources):
            if len(sources) == 1:  # a shard's first build
                return real(root, target, sources)
            if where == "after-manifest":
                os._exit(9)
            shutil.rmtree(root / sources[1])  # one source removed, then stop
            os._exit(9)
        edge_files.remove_sources = remove

    async def main():
        index = EdgeVectorIndex(Path(sys.argv[1]), DIM, seal_points=100, merge_fan_in=2)
        points = unit_points(250, "agent:alice", seed=22)
        for i in range(0, 250, 50):
            await index.upsert(points[i:i + 50])
        await index.delete([points[3].id])
        if where == "build":  # stop while the merge's child builds
            while True:
                await index.run_background()
                await asyncio.sleep(0.01)
                job = index._sealed._job
                if job is not None and len(job.sources) > 1 and job.child is not None:
                    os._exit(9)
        await index.wait_indexed()
    asyncio.run(main())
""")


async def _stopped(tmp_path: Path, where: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    done = subprocess.run([sys.executable, "-c", STOPPED, str(tmp_path / "vectors"), where],
                          env=env, capture_output=True, timeout=300, check=False)
    assert done.returncode == 9, done.stderr.decode()[-2000:]


@pytest.mark.parametrize("where", ["build", "after-manifest", "mid-swap"])
async def test_a_merge_stopped_anywhere_loses_and_duplicates_nothing(
        tmp_path: Path, where: str) -> None:
    await _stopped(tmp_path, where)
    sealed = tmp_path / "vectors.sealed"
    committed = where != "build"
    # the merge's manifest (two sources); a shard's first build (one source) may have
    # left its own, committed manifest if the driver thread was removing its source
    merges = [m for m in sealed.glob("*.merge.json")
              if len(json.loads(m.read_text())["sources"]) > 1]
    assert bool(merges) == committed
    points = _points(250)
    kept = points[:3] + points[4:]
    index = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100, merge_fan_in=2)
    try:
        shards = await index.shard_counts()
        # committed: the swap is finished at open; not: the sources are kept as they were
        assert shards == ([(50, False), (199, True)] if committed
                          else [(50, False), (99, True), (100, True)])
        assert not [p for p in sealed.iterdir()
                    if p.suffix in (".pending", ".json", ".tmp") or ".export" in p.name]
        assert await index.count() == 249
        assert await _all_found(index, kept)
        assert points[3].id not in await index.all_ids()
        await index.wait_indexed()  # an interrupted merge runs again
        assert await index.shard_counts() == [(50, False), (199, True)]
        assert await _all_found(index, kept)
    finally:
        await index.close()
