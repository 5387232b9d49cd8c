"""VectorIndex contract: the same tests on embedded Qdrant Edge, on the Qdrant server
adapter in qdrant-client's local mode (the same client API, a stand-in where no server can
run), on Neo4j's native vector index (the session's real Neo4j, one collection per test),
and on a real Qdrant server when FLEETMEM_TEST_QDRANT_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fleetmem.memory.domain.metadata import scalar_pairs
from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import MemoryFilter, VectorIndex, VectorPoint
from fleetmem.memory.stores.neo4j.vector_index import Neo4jVectorIndex
from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex
from fleetmem.memory.stores.qdrant.server_index import QdrantServerVectorIndex
from tests.contract.values import ALICE, BOB, DIM, T0, TEAM, flt, vec
from tests.neo4j_fixtures import Neo4jTarget

SERVER_URL = os.environ.get("FLEETMEM_TEST_QDRANT_URL", "")
Factory = Callable[[], VectorIndex]


def point(seed: int, ns: str = ALICE, *, kind: str = "fact", status: str = "active",
          by: str = "alice", minute: float = 0, tags: tuple[str, ...] = (),
          pid: str | None = None) -> VectorPoint:
    return VectorPoint(id=pid or str(uuid.UUID(int=seed + 1, version=4)), vector=vec(seed),
                       namespace=ns, kind=kind, status=status, created_by=by,
                       created_at=T0.timestamp() + minute * 60, tags=tags)


@pytest.fixture(params=["edge", "edge-sealed", "qdrant-local",
                        pytest.param("neo4j", marks=pytest.mark.neo4j),
                        pytest.param("qdrant-server", marks=(
    pytest.mark.skipif(not SERVER_URL, reason="set FLEETMEM_TEST_QDRANT_URL to run against a "
                                              "real Qdrant server (e.g. docker compose)")))])
async def make_index(request: pytest.FixtureRequest,
                     tmp_path: Path) -> AsyncIterator[Factory]:
    """A factory of indexes over one storage location (a second call reopens it)."""
    collection = f"fleetmem_test_{uuid.uuid4().hex[:12]}"
    made: list[VectorIndex] = []

    def factory() -> VectorIndex:
        index: VectorIndex
        if request.param == "edge":
            index = EdgeVectorIndex(tmp_path / "edge", DIM)
        elif request.param == "neo4j":
            target: Neo4jTarget = request.getfixturevalue("neo4j_server")
            index = Neo4jVectorIndex(target.uri, target.user, target.password, "neo4j",
                                     collection, DIM)
        elif request.param == "edge-sealed":  # sealed every 3 points: most tests span shards
            index = EdgeVectorIndex(tmp_path / "edge", DIM, seal_points=3)
        elif request.param == "qdrant-local":
            index = QdrantServerVectorIndex(":local:", collection, DIM,
                                            local_path=tmp_path / "qdrant-local")
        else:
            index = QdrantServerVectorIndex(SERVER_URL, collection, DIM,
                                            os.environ.get("FLEETMEM_TEST_QDRANT_API_KEY"))
        made.append(index)
        return index

    yield factory
    for index in made:
        await index.close()
    if request.param == "qdrant-server":
        from qdrant_client import AsyncQdrantClient

        client = AsyncQdrantClient(url=SERVER_URL,
                                   api_key=os.environ.get("FLEETMEM_TEST_QDRANT_API_KEY"))
        await client.delete_collection(collection)
        await client.close()


@pytest.fixture
async def index(make_index: Factory) -> VectorIndex:
    return make_index()


async def test_search_finds_nearest_within_namespaces(index: VectorIndex) -> None:
    await index.upsert([point(i) for i in range(5)] + [point(9, BOB)])
    hits = await index.search(vec(2), flt(ALICE), 3)
    assert hits[0][0] == point(2).id and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == 3 and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert point(9).id not in {h for h, _ in await index.search(vec(9), flt(ALICE), 10)}
    assert (await index.search(vec(9), flt(ALICE, BOB), 1))[0][0] == point(9, BOB).id
    assert await index.search(vec(1), flt(TEAM), 5) == []
    assert await index.search(vec(1), MemoryFilter(namespaces=()), 5) == []


async def test_search_applies_every_filter(index: VectorIndex) -> None:
    pts = {
        "episode": point(1, kind="episode"), "archived": point(2, status="archived"),
        "tagged": point(3, tags=("ops", "db")), "bob": point(4, by="bob"),
        "late": point(5, minute=30), "plain": point(6),
    }
    await index.upsert(list(pts.values()))

    async def ids(**kw: object) -> set[str]:
        return {h for h, _ in await index.search(vec(0), flt(ALICE, **kw), 10)}

    name = {p.id: k for k, p in pts.items()}
    assert {name[i] for i in await ids()} == set(pts) - {"archived"}
    assert {name[i] for i in await ids(kinds=("episode",))} == {"episode"}
    assert {name[i] for i in await ids(statuses=(MemoryStatus.ARCHIVED,))} == {"archived"}
    assert {name[i] for i in await ids(tags=("db", "nope"))} == {"tagged"}
    assert {name[i] for i in await ids(created_by="bob")} == {"bob"}
    after = T0.replace(minute=T0.minute + 10)
    assert {name[i] for i in await ids(created_after=after)} == {"late"}
    assert "late" not in {name[i] for i in await ids(created_before=after)}
    assert {name[i] for i in await ids(as_of=T0)} == set(pts)


async def test_search_filters_metadata_before_ranking(index: VectorIndex) -> None:
    """Every pair must match, with its JSON type (1, "1" and true differ); the filter
    runs inside the search, so the nearest point that fails it takes no slot."""
    def meta(seed: int, **pairs: object) -> VectorPoint:
        return replace(point(seed), metadata=tuple(sorted(scalar_pairs(pairs).items())))
    pts = {"near": meta(0, src="a"), "str": meta(1, src="b", n="1"),
           "int": meta(2, src="b", n=1), "bool": meta(3, src="b", n=True),
           "none": point(4)}
    await index.upsert(list(pts.values()))
    name = {p.id: k for k, p in pts.items()}

    async def ids(*pairs: tuple[str, str | int | bool]) -> list[str]:
        return [name[h] for h, _ in await index.search(vec(0), flt(ALICE, metadata=pairs), 1)]
    assert (await ids(("src", "b")))[0] in {"str", "int", "bool"}
    assert await ids(("src", "b"), ("n", 1)) == ["int"]
    assert await ids(("n", "1")) == ["str"]
    assert await ids(("n", True)) == ["bool"]
    assert await ids(("n", False)) == []
    assert await ids(("src", "a"), ("n", 1)) == []


async def test_upsert_replaces_vector_and_payload(index: VectorIndex) -> None:
    p = point(1)
    await index.upsert([p])
    await index.upsert([VectorPoint(p.id, vec(7), ALICE, "fact", "superseded", "alice",
                                    p.created_at)])
    assert await index.count() == 1
    assert await index.search(vec(7), flt(ALICE), 5) == []
    [(hit, score)] = await index.search(vec(7), flt(ALICE, statuses=(MemoryStatus.SUPERSEDED,)),
                                        5)
    assert hit == p.id and score == pytest.approx(1.0, abs=1e-4)


async def test_delete_existing_all_ids_and_count(index: VectorIndex) -> None:
    pts = [point(i) for i in range(300)]
    await index.upsert(pts)
    assert await index.count() == 300
    missing = str(uuid.uuid4())
    assert await index.existing([pts[0].id, pts[299].id, missing]) == {pts[0].id, pts[299].id}
    await index.delete([pts[0].id, missing])
    await index.delete([])
    assert await index.count() == 299
    assert await index.all_ids() == {p.id for p in pts[1:]}
    assert await index.existing([]) == set()


async def test_flushed_points_survive_reopening(make_index: Factory) -> None:
    first = make_index()
    await first.upsert([point(1), point(2, TEAM)])
    await first.flush()
    await first.close()
    second = make_index()
    assert await second.count() == 2
    [(hit, _)] = await second.search(vec(2), flt(TEAM), 1)
    assert hit == point(2).id
    assert np.isclose((await second.search(vec(1), flt(ALICE), 1))[0][1], 1.0, atol=1e-4)


async def test_search_many_equals_one_search_per_vector(index: VectorIndex) -> None:
    await index.upsert([point(i) for i in range(12)] + [point(100 + i, BOB) for i in range(5)])
    flt = MemoryFilter(namespaces=(ALICE,))
    queries = [vec(i) for i in (0, 3, 7, 100)]
    batched = await index.search_many(queries, flt, 3)
    single = [await index.search(q, flt, 3) for q in queries]
    assert [[i for i, _ in hits] for hits in batched] == [[i for i, _ in hits] for hits in single]
    assert all(hits for hits in batched)
    # every backend takes the near-duplicate lookup's beam (Neo4j's index ignores it)
    narrow = await index.search_many(queries, flt, 3, beam=8)
    assert [[i for i, _ in hits] for hits in narrow] == [[i for i, _ in hits] for hits in single]
    # and recall's dense beam (`recall.dense_beam`)
    beamed = [await index.search(q, flt, 3, beam=4) for q in queries]
    assert [[i for i, _ in hits] for hits in beamed] == [[i for i, _ in hits] for hits in single]
    assert await index.search_many([], flt, 3) == []
    assert await index.search_many(queries, MemoryFilter(namespaces=()), 3) == [[]] * 4


async def test_other_namespaces_never_crowd_out_or_leak(index: VectorIndex) -> None:
    """Many nearer points of another namespace take no slot of this one's results (an
    approximate index searched before filtering must fall back to an exact ranking)."""
    near = [point(1000 + i, BOB) for i in range(150)]
    near = [replace(p, vector=vec(0) + 0.01 * vec(2000 + i)) for i, p in enumerate(near)]
    mine = [point(i) for i in (11, 12, 13)]
    await index.upsert(near + mine)
    hits = await index.search(vec(0), flt(ALICE), 5)
    assert {h for h, _ in hits} == {p.id for p in mine}
    assert all(-1.0 <= s <= 1.0 for _, s in hits)
    assert await index.count() == 153


async def test_a_second_client_sees_the_first_ones_writes(make_index: Factory,
                                                          request: pytest.FixtureRequest
                                                          ) -> None:
    """Shared backends (what replicas use): a second client on the same store sees the
    first one's upserts and deletes at once, without flush or reopen."""
    if request.node.callspec.params["make_index"] in ("edge", "edge-sealed", "qdrant-local"):
        pytest.skip("embedded stores are opened by one process at a time")
    first, second = make_index(), make_index()
    await first.upsert([point(1), point(2)])
    assert await second.existing([point(1).id, point(2).id]) == {point(1).id, point(2).id}
    [(hit, _)] = await second.search(vec(2), flt(ALICE), 1)
    assert hit == point(2).id
    await second.delete([point(1).id])
    assert await first.all_ids() == {point(2).id}
