"""GraphStore contract, memory half: every test runs on SQLite and on a real Neo4j.

The SQLite store is the reference semantics; the Neo4j store must agree on every port
method (entities, buffers and audit are in the sibling test_graph_store_*.py files).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fleetmem.memory.domain.audit import GENESIS
from fleetmem.memory.domain.conflicts import (
    Claim,
    ConflictKind,
    ConflictRecord,
    Resolution,
    pair_key,
)
from fleetmem.memory.domain.models import CommitState, MemoryKind, MemoryStatus
from fleetmem.memory.domain.text import new_id
from fleetmem.memory.ports import EntityRef, GraphStore, IdempotencyRecord, MemoryFilter
from tests.contract.conftest import open_graph
from tests.contract.values import (
    ALICE,
    ALL_STATUSES,
    BOB,
    TEAM,
    at,
    committed,
    ent,
    ev,
    flt,
    mem,
    put,
    recall_rows,
    vec,
)


async def test_open_is_idempotent_and_ping_answers(graph: GraphStore) -> None:
    [m] = await put(graph, mem("survives a second open"))
    await graph.open()
    await graph.ping()
    assert await graph.get_memories([m.id], [ALICE]) == [m]


async def test_replicas_open_together_and_share_one_store(
        graph: GraphStore, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    backend = request.node.callspec.params["graph"]
    replicas = [open_graph(backend, request, tmp_path, wipe=False) for _ in range(2)]
    await asyncio.gather(*(r.open() for r in replicas))
    try:
        [m] = await put(replicas[0], mem("written through replica one"))
        assert await replicas[1].get_memories([m.id], [ALICE]) == [m]
        assert await graph.get_memories([m.id], [ALICE]) == [m]
    finally:
        for r in replicas:
            await r.close()


async def test_pending_memories_are_invisible_until_committed(graph: GraphStore) -> None:
    m = mem("half written", entities=("Payments",))
    await graph.insert_memories([m], [vec(1)])
    assert await graph.get_memories([m.id], [ALICE]) == []
    assert await graph.find_by_hash(ALICE, m.content_hash) is None
    assert await graph.count_indexable() == 0
    [(pending, vector)] = await graph.pending_memories(10)
    assert pending == m and pending.commit_state is CommitState.PENDING
    assert vector is not None and np.array_equal(vector, vec(1))
    await graph.mark_committed([m.id], [ev("remember", targets=[m.id])])
    assert await graph.get_memories([m.id], [ALICE]) == [committed(m)]
    assert await graph.pending_memories(10) == []
    last = await graph.last_audit()
    assert last is not None and last.seq == 1 and last.prev_hash == GENESIS
    assert last.target_ids == (m.id,)


async def test_round_trip_keeps_every_field(graph: GraphStore) -> None:
    m = replace(mem("Ünïcode text — with 'quotes' and \"double\" ones", tags=("a", "b"),
                    kind=MemoryKind.PREFERENCE, importance=0.83, on_behalf_of="human:dana",
                    workflow_id="wf-7", entities=("Atlas", "atlas", "Zeus")),
                pinned=True, valid_to=at(90), last_accessed_at=at(3), access_count=4)
    [stored] = await put(graph, m)
    [got] = await graph.get_memories([m.id], [ALICE])
    assert got == stored
    assert got.created_at == m.created_at and got.created_at.tzinfo is not None


async def test_delete_pending_never_touches_committed(graph: GraphStore) -> None:
    [done] = await put(graph, mem("committed one"))
    half = mem("pending one")
    await graph.insert_memories([half], [vec(2)])
    await graph.delete_pending([done.id, half.id])
    assert await graph.get_memories([done.id], [ALICE]) == [done]
    assert await graph.pending_memories(10) == []


async def test_get_memories_is_scoped_ordered_and_deduplicated(graph: GraphStore) -> None:
    a, b = await put(graph, mem("first"), mem("second"))
    [c] = await put(graph, mem("bob's", BOB))
    got = await graph.get_memories([b.id, c.id, a.id, b.id], [ALICE])
    assert [x.id for x in got] == [b.id, a.id]
    assert await graph.get_memories([a.id], []) == []
    assert await graph.get_memories([], [ALICE]) == []
    assert [x.id for x in await graph.get_memories([c.id], [ALICE, BOB])] == [c.id]


async def test_vectors_round_trip_for_any_state(graph: GraphStore) -> None:
    [a] = await put(graph, mem("committed"), seed=5)
    p = mem("pending")
    await graph.insert_memories([p], [vec(9)])
    got = await graph.get_vectors([a.id, p.id, "00000000-0000-4000-8000-000000000000"])
    assert set(got) == {a.id, p.id}
    assert got[a.id].dtype == np.float32 and np.array_equal(got[a.id], vec(5))
    assert np.array_equal(got[p.id], vec(9))


async def test_find_by_hash_only_finds_active_committed_in_namespace(graph: GraphStore) -> None:
    [m] = await put(graph, mem("the build uses bazel"))
    assert await graph.find_by_hash(ALICE, m.content_hash) == m
    assert await graph.find_by_hash(BOB, m.content_hash) is None
    await graph.set_status([m.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    assert await graph.find_by_hash(ALICE, m.content_hash) is None


async def test_reinforce_adds_counts_and_sets_last_access(graph: GraphStore) -> None:
    a, b = await put(graph, mem("one"), mem("two"))
    await graph.reinforce([a.id], at(5), 3)
    await graph.reinforce([a.id, b.id], at(6))
    await graph.reinforce([], at(7))
    got = {m.id: m for m in await graph.get_memories([a.id, b.id], [ALICE])}
    assert (got[a.id].access_count, got[a.id].last_accessed_at) == (4, at(6))
    assert (got[b.id].access_count, got[b.id].last_accessed_at) == (1, at(6))


async def test_set_status_reports_changes_and_audits_only_then(graph: GraphStore) -> None:
    a, b = await put(graph, mem("one"), mem("two"))
    pending = mem("pending")
    await graph.insert_memories([pending], [vec(3)])
    changed = await graph.set_status([a.id, pending.id], MemoryStatus.ARCHIVED, at(2),
                                     [ev("forget", targets=[a.id])])
    assert changed == [a.id]
    seq = (await graph.last_audit()).seq  # type: ignore[union-attr]
    assert await graph.set_status([a.id], MemoryStatus.ARCHIVED, at(3), [ev("forget")]) == []
    assert (await graph.last_audit()).seq == seq  # type: ignore[union-attr]
    [got] = await graph.get_memories([a.id], [ALICE])
    assert (got.status, got.updated_at) == (MemoryStatus.ARCHIVED, at(2))
    assert await graph.set_status([a.id, b.id], MemoryStatus.ACTIVE, at(4),
                                  [ev("restore")]) == [a.id]


async def test_supersede_closes_old_and_commits_new_atomically(graph: GraphStore) -> None:
    [old] = await put(graph, mem("Atlas owns payments", entities=("Payments",)))
    new = replace(committed(mem("Zeus owns payments", minute=10, entities=("Payments",))),
                  supersedes=old.id)
    assert await graph.supersede(old.id, new, vec(4), at(10), [ev("correct", minute=10)])
    closed, current = await graph.get_memories([old.id, new.id], [ALICE])
    assert (closed.status, closed.valid_to, closed.superseded_by) == \
        (MemoryStatus.SUPERSEDED, at(10), new.id)
    assert current == new
    again = replace(new, id="11111111-1111-4111-8111-111111111111")
    assert not await graph.supersede(old.id, again, vec(5), at(11), [ev("correct")])
    assert await graph.get_memories([again.id], [ALICE]) == []
    assert [m.id for m in await graph.history(old.id, [ALICE])] == [old.id, new.id]
    assert [m.id for m in await graph.history(new.id, [ALICE])] == [old.id, new.id]
    assert await graph.history(new.id, [BOB]) == []
    assert await graph.count_indexable() == 2
    assert np.array_equal((await graph.get_vectors([new.id]))[new.id], vec(4))


async def test_concurrent_supersedes_have_exactly_one_winner(graph: GraphStore) -> None:
    [old] = await put(graph, mem("contended fact"))
    news = [replace(committed(mem(f"correction {i}", minute=1)), supersedes=old.id)
            for i in range(4)]
    results = await asyncio.gather(*(graph.supersede(old.id, n, vec(i), at(1), [ev("correct")])
                                     for i, n in enumerate(news)))
    assert sorted(results) == [False, False, False, True]
    winner = news[results.index(True)]
    [closed] = await graph.get_memories([old.id], [ALICE])
    assert closed.superseded_by == winner.id
    assert len(await graph.get_memories([n.id for n in news], [ALICE])) == 1


async def test_keyword_search_stems_ranks_and_filters(graph: GraphStore) -> None:
    a, b, c = await put(graph, mem("Deployments run every Friday", tags=("ops",)),
                        mem("the cafeteria menu changes on Friday", kind=MemoryKind.EPISODE),
                        mem("deployment of the payments service failed twice, deployment",
                            by="bob", minute=5))
    [other] = await put(graph, mem("deployment in bob's space", BOB))
    hits = await graph.keyword_search("deployment", flt(ALICE), 10)
    assert {h for h, _ in hits} == {a.id, c.id}
    # a term counts once per text (issue 18's per-namespace BM25): the shorter text wins
    assert hits[0][0] == a.id and hits[0][1] > hits[1][1]
    assert other.id in {h for h, _ in await graph.keyword_search("deployment", flt(ALICE, BOB),
                                                                 10)}
    assert [h for h, _ in await graph.keyword_search(
        "friday", flt(kinds=("episode",)), 10)] == [b.id]
    assert [h for h, _ in await graph.keyword_search("friday", flt(tags=("ops",)), 10)] == [a.id]
    assert [h for h, _ in await graph.keyword_search(
        "deployment", flt(created_by="bob"), 10)] == [c.id]
    assert [h for h, _ in await graph.keyword_search(
        "deployment", flt(created_after=at(1)), 10)] == [c.id]
    assert [h for h, _ in await graph.keyword_search(
        "deployment", flt(created_before=at(1)), 10)] == [a.id]
    assert await graph.keyword_search("?! * \"", flt(), 10) == []
    assert len(await graph.keyword_search("deployment friday", flt(), 1)) == 1


async def test_keyword_search_respects_status(graph: GraphStore) -> None:
    [a] = await put(graph, mem("kubernetes cluster upgrade"))
    await graph.set_status([a.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    assert await graph.keyword_search("kubernetes", flt(), 10) == []
    hits = await graph.keyword_search("kubernetes", flt(statuses=ALL_STATUSES), 10)
    assert [h for h, _ in hits] == [a.id]


async def test_recall_rows_keep_order_and_apply_validity(graph: GraphStore) -> None:
    a, b = await put(graph, mem("one", minute=0), mem("two", minute=0))
    new = replace(committed(mem("one, corrected", minute=30)), supersedes=a.id)
    await graph.supersede(a.id, new, vec(7), at(30), [ev("correct")])
    ids = [new.id, b.id, a.id, "00000000-0000-4000-8000-000000000000"]

    async def kept(f: MemoryFilter) -> list[str]:
        return [m.id for m, _ in await recall_rows(graph, ids, f)]
    assert await kept(flt()) == [new.id, b.id]
    assert await kept(flt(as_of=at(10))) == [b.id, a.id]
    assert await kept(flt(as_of=at(40))) == [new.id, b.id]
    assert await recall_rows(graph, [], flt()) == []
    [(row, disputed)] = await recall_rows(graph, [b.id], flt())
    assert row == b and disputed is False


async def test_recall_rows_scope_and_mark_open_conflicts(graph: GraphStore) -> None:
    a, b = await put(graph, mem("Dana works at Acme"), mem("Dana works at Globex"))
    [c] = await put(graph, mem("bob's note", BOB))
    [d] = await put(graph, mem("archived note"))
    await graph.set_status([d.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    claim = await graph.create_conflict(ConflictRecord(
        id=new_id(), namespace=ALICE, kind=ConflictKind.RELATION, subject="Dana",
        attribute="works_at", a=Claim("Acme", a.text, "alice", at(2), a.id, None),
        b=Claim("Globex", b.text, "bob", at(2), b.id, None), created_at=at(2),
        workflow_id=None, pair_key=pair_key(ALICE, ConflictKind.RELATION, "Dana",
                                            "works_at", "Acme", "Globex")), [ev("conflict")])
    ids = [c.id, b.id, d.id, a.id, b.id]
    rows = await recall_rows(graph, ids, flt())
    assert [(m.id, disputed) for m, disputed in rows] == [(b.id, True), (a.id, True)]
    assert [m.id for m, _ in await recall_rows(graph, ids, flt(ALICE, BOB))] == \
        [c.id, b.id, a.id]
    assert [m.id for m, _ in await recall_rows(graph, ids, flt(statuses=ALL_STATUSES))] == \
        [b.id, d.id, a.id]
    assert await recall_rows(graph, ids, flt(TEAM)) == []
    await graph.resolve_conflict(claim.id, Resolution(keep="both", resolved_by="dana",
                                                      resolved_at=at(3), note=""),
                                 [ev("resolve")])
    assert [d for _, d in await recall_rows(graph, [a.id, b.id], flt())] == [False, False]


async def test_find_by_hashes_finds_active_committed_in_namespace(graph: GraphStore) -> None:
    a, b = await put(graph, mem("the build uses bazel"), mem("the CI runs nightly"))
    archived = mem("an archived note")
    await put(graph, archived)
    await graph.set_status([archived.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    pending = mem("a pending note")
    await graph.insert_memories([pending], [vec(4)])
    hashes = [a.content_hash, b.content_hash, archived.content_hash, pending.content_hash,
              "no-such-hash", a.content_hash]
    assert await graph.find_by_hashes(ALICE, hashes) == {a.content_hash: a.id,
                                                        b.content_hash: b.id}
    assert await graph.find_by_hashes(BOB, hashes) == {}
    assert await graph.find_by_hashes(ALICE, []) == {}


async def test_insert_committed_with_audit_is_one_durable_write(graph: GraphStore) -> None:
    m = committed(mem("written in one transaction", entities=("Payments",)))
    await graph.insert_memories([m], [vec(6)], [ev("remember", targets=[m.id])])
    assert await graph.get_memories([m.id], [ALICE]) == [m]
    assert await graph.pending_memories(10) == []
    assert await graph.count_indexable() == 1
    last = await graph.last_audit()
    assert last is not None and last.operation == "remember" and last.target_ids == (m.id,)


async def test_list_memories_pages_by_id(graph: GraphStore) -> None:
    made = await put(graph, *[mem(f"memory number {i}") for i in range(7)])
    await put(graph, mem("elsewhere", TEAM))
    ids = sorted(m.id for m in made)
    page1 = await graph.list_memories(flt(), None, 4)
    page2 = await graph.list_memories(flt(), page1[-1].id, 4)
    assert [m.id for m in page1 + page2] == ids
    assert page1[0] == next(m for m in made if m.id == ids[0])


async def test_memories_mentioning_follows_entity_links(graph: GraphStore) -> None:
    early = (await put(graph, mem("payments before the entity", entities=("Payments",))))[0]
    await graph.create_entities([ent("Payments"), ent("Billing")])
    a, b = await put(graph, mem("about payments", minute=1, entities=("payments",)),
                     mem("about billing", minute=2, entities=("Billing",)))
    [archived] = await put(graph, mem("old payments note", minute=3, entities=("Payments",)))
    await graph.set_status([archived.id], MemoryStatus.ARCHIVED, at(4), [ev("forget")])
    assert await graph.memories_mentioning(["PAYMENTS"], flt(), 10) == [a.id, early.id]
    assert await graph.memories_mentioning(["payments", "billing"], flt(), 2) == [b.id, a.id]
    assert await graph.memories_mentioning(["Payments"], flt(BOB), 10) == []
    assert await graph.memories_mentioning([], flt(), 10) == []
    await graph.delete_entities([EntityRef(ALICE, "Payments")], at(5))
    assert await graph.memories_mentioning(["Payments"], flt(), 10) == []
    await graph.create_entities([ent("payments", minute=6)])
    assert await graph.memories_mentioning(["Payments"], flt(), 10) == [a.id, early.id]


async def test_memories_mentioning_few_is_all_of_them_or_none(graph: GraphStore) -> None:
    # recall's graph leg asks "at most n?" of a speaker named by every turn: the answer
    # is every memory, newest first, as `memories_mentioning` orders them, or None
    await graph.create_entities([ent("Payments"), ent("Billing"), ent("Payments", BOB)])
    made = await put(graph, *(mem(f"payments {i}", minute=i, entities=("Payments",))
                              for i in range(4)))
    [billing] = await put(graph, mem("billing", minute=9, entities=("Billing",)))
    [archived] = await put(graph, mem("old payments", minute=5, entities=("Payments",)))
    await put(graph, mem("bob's payments", BOB, minute=6, entities=("Payments",)))
    await graph.set_status([archived.id], MemoryStatus.ARCHIVED, at(7), [ev("forget")])
    newest_first = [m.id for m in reversed(made)]
    assert await graph.memories_mentioning_few(["PAYMENTS"], flt(), 4) == newest_first
    assert await graph.memories_mentioning_few(["payments"], flt(), 10) == \
        await graph.memories_mentioning(["payments"], flt(), 10)
    assert await graph.memories_mentioning_few(["payments"], flt(), 3) is None
    assert await graph.memories_mentioning_few(["payments", "billing"], flt(), 5) == \
        [billing.id, *newest_first]
    assert await graph.memories_mentioning_few(["payments", "billing"], flt(), 4) is None
    assert await graph.memories_mentioning_few(["Payments"], flt(BOB), 0) is None
    assert await graph.memories_mentioning_few(["Payments"], flt(TEAM), 0) == []
    assert await graph.memories_mentioning_few([], flt(), 3) == []


async def test_a_later_entity_links_earlier_mentions_whatever_its_name_holds(
        graph: GraphStore) -> None:
    # Neo4j finds the earlier memories through a full-text index of their mentions: a
    # name full of query syntax is one exact term there, and other namespaces stay out
    odd = 'O"Neil (AND) [x]* ~2 \\ OR'
    mine = (await put(graph, mem("met them", entities=(odd,))))[0]
    await put(graph, mem("elsewhere", BOB, minute=1, entities=(odd,)))
    await put(graph, mem("a near name", minute=2, entities=("O",)))
    await graph.create_entities([ent(odd)])
    assert await graph.memories_mentioning([odd.upper()], flt(), 10) == [mine.id]


async def test_indexable_counts_and_namespaces(graph: GraphStore) -> None:
    a, b, c = await put(graph, mem("active"), mem("to archive"), mem("to supersede"))
    await graph.set_status([b.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    new = replace(committed(mem("superseding", minute=2)), supersedes=c.id)
    await graph.supersede(c.id, new, vec(8), at(2), [ev("correct")])
    await graph.insert_memories([mem("pending", TEAM)], [vec(1)])
    assert await graph.count_indexable() == 3
    assert await graph.indexable_ids() == {a.id, c.id, new.id}
    assert await graph.all_namespaces() == [ALICE, TEAM]


async def test_purge_removes_only_archived(graph: GraphStore) -> None:
    a, b = await put(graph, mem("keep me"), mem("purge me"))
    await graph.set_status([b.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    assert await graph.purge_memories([a.id, b.id], [ev("purge", targets=[b.id])]) == [b.id]
    assert await graph.get_memories([a.id, b.id], [ALICE]) == [a]
    assert await graph.get_vectors([b.id]) == {}
    assert (await graph.last_audit()).operation == "purge"  # type: ignore[union-attr]
    assert await graph.purge_memories([a.id], [ev("purge")]) == []


async def test_idempotency_records_keep_the_first_response(graph: GraphStore) -> None:
    first = IdempotencyRecord("alice", "k1", "remember", '[{"id": "x"}]', at(0))
    await graph.put_idempotent(first)
    await graph.put_idempotent(replace(first, response_json="[]", created_at=at(1)))
    assert await graph.get_idempotent("alice", "k1") == first
    assert await graph.get_idempotent("bob", "k1") is None
