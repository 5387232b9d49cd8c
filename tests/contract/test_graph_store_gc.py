"""GraphStore contract, maintenance methods used by GC jobs: on SQLite and Neo4j."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from fleetmem.memory.domain.models import MemoryStatus, Observation
from fleetmem.memory.ports import EntityRef, GraphStore
from tests.contract.conftest import open_graph
from tests.contract.values import ALICE, TEAM, at, committed, ent, ev, mem, put, rel


async def test_transition_status_is_compare_and_set(graph: GraphStore) -> None:
    a, b, c = await put(graph, mem("one"), mem("two"), mem("three"))
    await graph.set_status([c.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    seq = (await graph.last_audit()).seq  # type: ignore[union-attr]
    changed = await graph.transition_status([c.id, a.id, b.id, a.id], MemoryStatus.ACTIVE,
                                            MemoryStatus.ARCHIVED, at(2), [ev("decay")])
    assert changed == [a.id, b.id]
    assert (await graph.last_audit()).seq == seq + 1  # type: ignore[union-attr]
    assert await graph.transition_status([a.id], MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED,
                                         at(3), [ev("decay")]) == []
    assert (await graph.last_audit()).seq == seq + 1  # type: ignore[union-attr]
    [got] = await graph.get_memories([a.id], [ALICE])
    assert (got.status, got.updated_at) == (MemoryStatus.ARCHIVED, at(2))
    assert await graph.transition_status([], MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED,
                                         at(3), [ev("decay")]) == []


async def test_unclosed_memories_finds_facts_left_open(graph: GraphStore) -> None:
    expired = replace(mem("expired", minute=0), valid_to=at(5))
    future = replace(mem("valid later", minute=0), valid_to=at(50))
    flagged = replace(mem("flagged", minute=0),
                      superseded_by="00000000-0000-4000-8000-0000000000aa")
    orphaned = mem("successor points at me", minute=0)
    fine = mem("fine", minute=0)
    await put(graph, expired, future, flagged, orphaned, fine)
    late = replace(mem("late successor", minute=9), supersedes=orphaned.id)
    early = replace(mem("early successor", minute=8), supersedes=orphaned.id)
    await put(graph, late, early)
    found = await graph.unclosed_memories(at(10), None, 10)
    want = {expired.id: None, flagged.id: flagged.superseded_by, orphaned.id: early.id}
    assert [(m.id, s) for m, s in found] == sorted(want.items())
    assert found[0][0] == committed(next(x for x in (expired, flagged, orphaned)
                                         if x.id == found[0][0].id))
    first = await graph.unclosed_memories(at(10), None, 1)
    rest = await graph.unclosed_memories(at(10), first[0][0].id, 10)
    assert [m.id for m, _ in first + rest] == sorted(want)


async def test_close_memories_keeps_existing_values(graph: GraphStore) -> None:
    dated = replace(mem("dated"), valid_to=at(5))
    a, b, c = await put(graph, dated, mem("plain"), mem("archived"))
    await graph.set_status([c.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    successor = committed(mem("successor", minute=6))
    await put(graph, successor)
    closed = await graph.close_memories([(a.id, at(9), None), (b.id, at(7), successor.id),
                                         (c.id, at(7), None)], at(8), [ev("close")])
    assert closed == [a.id, b.id]
    got = {m.id: m for m in await graph.get_memories([a.id, b.id, c.id], [ALICE])}
    assert (got[a.id].status, got[a.id].valid_to, got[a.id].superseded_by) == \
        (MemoryStatus.SUPERSEDED, at(5), None)
    assert (got[b.id].valid_to, got[b.id].superseded_by, got[b.id].updated_at) == \
        (at(7), successor.id, at(8))
    assert got[c.id].status is MemoryStatus.ARCHIVED
    assert await graph.close_memories([(a.id, at(9), None)], at(9), [ev("close")]) == []
    assert [m.id for m in await graph.history(b.id, [ALICE])] == [b.id, successor.id]


async def test_orphan_entities_need_no_observation_relation_or_mention(graph: GraphStore) -> None:
    await graph.create_entities([ent(n, minute=0) for n in
                                 ("Lonely", "Observed", "Related", "Target", "Mentioned")])
    await graph.create_entities([ent("Fresh", minute=30), ent("Lonely", TEAM)])
    await graph.add_observations(EntityRef(ALICE, "Observed"),
                                 [Observation("has a note", "alice", at(0))], at(0))
    await graph.create_relations([rel("Related", "Target", "uses")])
    await graph.close_relations(ALICE, "Related", "uses", at(1))
    [m] = await put(graph, mem("about mentioned", entities=("mentioned",)))
    await graph.set_status([m.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    orphans = await graph.orphan_entities(at(10), None, 10)
    assert sorted((e.namespace, e.name) for e in orphans) == [(ALICE, "Lonely"), (TEAM, "Lonely")]
    assert [e.id for e in orphans] == sorted(e.id for e in orphans)
    ids = [e.id for e in orphans]
    await graph.add_observations(EntityRef(TEAM, "Lonely"),
                                 [Observation("now observed", "bob", at(11))], at(1))
    fresh = (await graph.open_nodes([ALICE], ["Fresh"])).entities[0].id
    deleted = await graph.delete_orphan_entities([*ids, fresh], at(10), [ev("orphans")])
    alice_lonely = next(e.id for e in orphans if e.namespace == ALICE)
    assert deleted == [alice_lonely]
    assert (await graph.last_audit()).operation == "orphans"  # type: ignore[union-attr]
    assert await graph.delete_orphan_entities([alice_lonely], at(10), [ev("x")]) == []


async def test_claim_job_slot_has_one_winner(graph: GraphStore) -> None:
    results = await asyncio.gather(*(graph.claim_job_slot("decay", "2026-01-01T03", f"r{i}",
                                                          at(0)) for i in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert await graph.claim_job_slot("decay", "2026-01-01T04", "r1", at(60))
    assert await graph.claim_job_slot("purge", "2026-01-01T03", "r1", at(0))
    assert not await graph.claim_job_slot("decay", "2026-01-01T04", "r1", at(60))


async def test_idempotency_claim_is_a_lease_with_one_holder_across_replicas(
        graph: GraphStore, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Two stores on the same data (two replicas) claim one key at once: one wins; the
    winner may renew, others wait until it releases or its lease ends."""
    backend = request.node.callspec.params["graph"]
    other = open_graph(backend, request, tmp_path, wipe=False)
    await other.open()
    try:
        stores = [graph, other, graph, other]
        won = await asyncio.gather(*(s.claim_idempotency_key("a1", "k", f"h{i}", at(0), at(10))
                                     for i, s in enumerate(stores)))
        assert sorted(won) == [False, False, False, True]
        holder = f"h{won.index(True)}"
        assert await other.claim_idempotency_key("a1", "k", holder, at(1), at(10))
        assert not await other.claim_idempotency_key("a1", "k", "late", at(9), at(20))
        assert await graph.claim_idempotency_key("a2", "k", "late", at(9), at(20))  # per agent
        await other.release_idempotency_key("a1", "k", "late")  # not the holder: no effect
        assert not await graph.claim_idempotency_key("a1", "k", "late", at(9), at(20))
        await graph.release_idempotency_key("a1", "k", holder)
        assert await other.claim_idempotency_key("a1", "k", "late", at(9), at(20))
        # a holder that died: its lease ends and the key can be claimed again
        assert await graph.claim_idempotency_key("a1", "k", "after", at(21), at(30))
    finally:
        await other.close()
