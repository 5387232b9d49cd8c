"""A search leaves out a payload filter only on a shard whose points all pass it (issue 22,
`stores/qdrant/edge_scope.py`): a shard's scope is read from its payload indexes when it
is opened and widened by every write before a search can see it, so no search ever
returns a point of another namespace or status, through the active shard, a sealed one, or
after a restart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import qdrant_edge as qe

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import MemoryFilter, VectorPoint
from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex
from fleetmem.memory.stores.qdrant.edge_scope import Scope
from tests.support.vector_points import DIM, unit_points

A, B = "agent:alice", "team:ops"
ACTIVE = (MemoryStatus.ACTIVE,)


def _points(n: int, namespace: str, start: int, status: str = "active") -> list[VectorPoint]:
    return unit_points(n, namespace, start=start, status=status)


async def _leaks(index: EdgeVectorIndex, probes: list[VectorPoint], allowed: set[str],
                 flt: MemoryFilter) -> set[str]:
    """Ids outside `allowed` that searches (single and batched) return for `probes`."""
    out: set[str] = set()
    for p in probes:
        out.update(i for i, _ in await index.search(p.vector, flt, 20))
    for hits in await index.search_many([p.vector for p in probes], flt, 20):
        out.update(i for i, _ in hits)
    return out - allowed


async def test_no_search_returns_a_point_outside_its_filter(tmp_path: Path) -> None:
    index = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    alice = _points(120, A, 0)
    await index.upsert(alice[:100])  # sealed: alice's alone
    await index.upsert(alice[100:])
    ops = _points(30, B, 1000)
    archived = _points(10, A, 2000, status="archived")
    flt = MemoryFilter(namespaces=(A,), statuses=ACTIVE)
    alice_ids = {p.id for p in alice}
    # the active shard held only alice's active points, then others arrive in it
    assert await _leaks(index, ops + archived, alice_ids, flt) == set()
    await index.upsert(ops)
    await index.upsert(archived)
    assert await _leaks(index, ops + archived, alice_ids, flt) == set()
    # each of alice's points is still found first, by the shortcut or the filter
    for p in alice[::7]:
        assert (await index.search(p.vector, flt, 1))[0][0] == p.id
    # both namespaces and both statuses: everything is in scope
    both = MemoryFilter(namespaces=(A, B), statuses=(MemoryStatus.ACTIVE,
                                                     MemoryStatus.ARCHIVED))
    every = alice_ids | {p.id for p in ops + archived}
    assert await _leaks(index, ops + archived, every, both) == set()
    for p in (ops[0], archived[0]):
        assert (await index.search(p.vector, both, 1))[0][0] == p.id
    await index.wait_indexed()
    await index.close()

    reopened = EdgeVectorIndex(tmp_path / "vectors", DIM, seal_points=100)
    await reopened.open()
    assert await _leaks(reopened, ops + archived, alice_ids, flt) == set()
    kind = MemoryFilter(namespaces=(A,), statuses=ACTIVE, kinds=("preference",))
    assert await reopened.search(alice[0].vector, kind, 5) == []  # every point is a fact
    await reopened.close()


def test_a_scope_is_read_from_the_shard_and_only_answers_scope_filters(tmp_path: Path
                                                                      ) -> None:
    config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine))
    shard = qe.EdgeShard.create(str(tmp_path / "s"), config)
    for key in ("namespace", "status"):
        shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
    assert Scope.of(shard) == Scope(set(), set())
    shard.update(qe.UpdateOperation.upsert_points([
        qe.Point(p.id, p.vector.tolist(), {"namespace": p.namespace, "status": p.status})
        for p in _points(5, A, 0) + _points(2, B, 100, status="archived")]))
    scope = Scope.of(shard)
    assert scope == Scope({A, B}, {"active", "archived"})
    statuses = (MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED)
    assert scope.passes(MemoryFilter(namespaces=(A, B, "team:x"), statuses=statuses))
    assert not scope.passes(MemoryFilter(namespaces=(A,), statuses=statuses))
    assert not scope.passes(MemoryFilter(namespaces=(A, B), statuses=ACTIVE))
    for narrower in (MemoryFilter(namespaces=(A, B), statuses=statuses, tags=("x",)),
                     MemoryFilter(namespaces=(A, B), statuses=statuses, created_by="bob"),
                     MemoryFilter(namespaces=(A, B), statuses=statuses,
                                  as_of=datetime.now(UTC))):
        assert not scope.passes(narrower)
    shard.update(qe.UpdateOperation.upsert_points([  # a point without a status
        qe.Point(str(uuid.UUID(int=999, version=4)), _points(1, A, 5)[0].vector.tolist(),
                 {"namespace": A})]))
    assert Scope.of(shard).statuses is None  # unknown: the filter stays
    assert not Scope.of(shard).passes(MemoryFilter(namespaces=(A, B), statuses=statuses))
    shard.close()
