"""GraphStore contract, maintenance half (the GC's system methods): compare-and-set
status, closing unclosed facts, orphan entities and job-slot claims, on every backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from fleetmem.memory.domain.models import MemoryStatus, Observation
from fleetmem.memory.ports import EntityRef, GraphStore
from tests.contract.values import ALICE, BOB, at, ent, ev, mem, put, rel

A, S, X = MemoryStatus.ACTIVE, MemoryStatus.SUPERSEDED, MemoryStatus.ARCHIVED


async def audit_ops(graph: GraphStore) -> list[str]:
    return [e.operation for e in await graph.audit_events(None, 0, 1000)]


async def test_transition_status_is_compare_and_set(graph: GraphStore) -> None:
    a, b, c = await put(graph, mem("first"), mem("second"), mem("third"))
    await graph.set_status([c.id], S, at(1), [])
    changed = await graph.transition_status([c.id, a.id, b.id, a.id], A, X, at(2),
                                            [ev("gc_archive", targets=[a.id, b.id, c.id])])
    assert changed == [a.id, b.id]  # input order, deduplicated; c was not active
    got = {m.id: m for m in await graph.get_memories([a.id, b.id, c.id], [ALICE])}
    assert (got[a.id].status, got[b.id].status, got[c.id].status) == (X, X, S)
    assert got[a.id].updated_at == at(2)
    assert (await audit_ops(graph)).count("gc_archive") == 1
    # nothing matches: no change and no audit event
    assert await graph.transition_status([a.id], A, X, at(3), [ev("gc_archive")]) == []
    assert (await audit_ops(graph)).count("gc_archive") == 1
    assert await graph.transition_status([a.id], X, A, at(4), [ev("gc_restore")]) == [a.id]
    assert (await graph.get_memories([a.id], [ALICE]))[0].status == A


async def test_unclosed_memories_and_close_memories(graph: GraphStore) -> None:
    old, fine, expired, future = await put(
        graph, mem("v1"), mem("fine"), replace(mem("ends"), valid_to=at(3)),
        replace(mem("ends later"), valid_to=at(30)))
    newer = mem("v2", minute=5)
    assert await graph.supersede(old.id, newer, (await graph.get_vectors([old.id]))[old.id],
                                 at(5), [])
    # Break it the way a foreign writer could: the predecessor is active again.
    await graph.transition_status([old.id], S, A, at(6), [])

    page = await graph.unclosed_memories(at(10), None, 10)
    assert sorted((m.id, succ) for m, succ in page) == sorted([(old.id, newer.id),
                                                              (expired.id, None)])
    assert [m.id for m, _ in page] == sorted(m.id for m, _ in page)
    first = page[0][0].id
    assert [m.id for m, _ in await graph.unclosed_memories(at(10), first, 10)] == [page[1][0].id]
    assert len(await graph.unclosed_memories(at(10), None, 1)) == 1
    assert {m.id for m, _ in await graph.unclosed_memories(at(2), None, 10)} == {old.id}

    closed = await graph.close_memories([(old.id, at(7), newer.id), (fine.id, at(7), None)],
                                        at(8), [ev("gc_close_superseded", targets=[old.id])])
    assert closed == [old.id, fine.id]
    [got] = await graph.get_memories([old.id], [ALICE])
    # valid_to and superseded_by were still set by supersede: kept (COALESCE)
    assert (got.status, got.superseded_by, got.valid_to, got.updated_at) == \
        (S, newer.id, at(5), at(8))
    [got] = await graph.get_memories([fine.id], [ALICE])
    assert (got.status, got.valid_to, got.superseded_by) == (S, at(7), None)
    before = await audit_ops(graph)
    assert await graph.close_memories([(old.id, at(9), None)], at(9), [ev("again")]) == []
    assert await audit_ops(graph) == before
    assert await graph.close_memories([(expired.id, at(11), None)], at(11), [ev("c")]) == \
        [expired.id]
    [got] = await graph.get_memories([expired.id], [ALICE])
    assert (got.status, got.valid_to) == (S, at(3))
    assert await graph.unclosed_memories(at(12), None, 10) == []
    assert (await graph.get_memories([future.id], [ALICE]))[0].status == A


async def test_orphan_entities_need_no_observation_relation_or_memory(
        graph: GraphStore) -> None:
    await graph.create_entities([
        ent("Zeta"), ent("Kappa", observations=["fast"]), ent("Lambda"), ent("Mu"),
        ent("Nu"), ent("Young", minute=100), ent("Other", BOB), ent("Closed"), ent("Gone")])
    await graph.create_relations([rel("Lambda", "Mu", "works_with")])
    await graph.create_relations([rel("Closed", "Gone", "was", valid_to=at(2))])
    await put(graph, mem("about nu", entities=["nu"]))
    found = await graph.orphan_entities(at(50), None, 100)
    assert sorted((e.namespace, e.name) for e in found) == [(ALICE, "Zeta"), (BOB, "Other")]
    ids = [e.id for e in found]
    assert ids == sorted(ids)
    assert [e.id for e in await graph.orphan_entities(at(50), ids[0], 100)] == ids[1:]
    assert len(await graph.orphan_entities(at(50), None, 1)) == 1
    assert await graph.orphan_entities(at(0), None, 100) == []  # updated_at < before

    zeta = next(e for e in found if e.name == "Zeta")
    other = next(e for e in found if e.name == "Other")
    # Zeta gains an observation between listing and deleting: it survives
    await graph.add_observations(EntityRef(ALICE, "Zeta"), [Observation("new", "alice", at(1))],
                                 at(1))
    gone = await graph.delete_orphan_entities([zeta.id, other.id], at(50),
                                              [ev("gc_delete_orphans", BOB)])
    assert gone == [other.id]
    assert (await audit_ops(graph)).count("gc_delete_orphans") == 1
    assert await graph.delete_orphan_entities([zeta.id], at(50), [ev("x")]) == []
    assert "x" not in await audit_ops(graph)
    names = {e.name for e in (await graph.read_graph([ALICE, BOB], None, 100)).entities}
    assert "Other" not in names and "Zeta" in names


async def test_job_slots_are_claimed_once(graph: GraphStore) -> None:
    assert await graph.claim_job_slot("decay", "2026-01-01T06:00", "a", at(0))
    assert not await graph.claim_job_slot("decay", "2026-01-01T06:00", "b", at(0))
    assert not await graph.claim_job_slot("decay", "2026-01-01T06:00", "a", at(1))
    assert await graph.claim_job_slot("purge", "2026-01-01T06:00", "b", at(0))
    assert await graph.claim_job_slot("decay", "2026-01-01T12:00", "b", at(0))
    results = await asyncio.gather(*(graph.claim_job_slot("orphans", "k", f"o{i}", at(0))
                                     for i in range(8)))
    assert results.count(True) == 1
