"""`MemoryStore.reading` and `write_together` (issue 22): bundling calls into one
transaction never changes what a call returns, on every graph store."""

from __future__ import annotations

import asyncio

import pytest

from fleetmem.memory.domain.models import CommitState, Entity, MemoryStatus
from fleetmem.memory.domain.text import new_id
from fleetmem.memory.ports import GraphStore, MemoryFilter, TurnLink
from fleetmem.memory.stores.neo4j.graph_store import Neo4jGraphStore
from tests.contract.values import ALICE, at, committed, ev, mem, put, vec

FLT = MemoryFilter(namespaces=(ALICE,))


async def _reads(graph: GraphStore, ids: list[str]) -> tuple[object, ...]:
    """Several reads of several ports, some at once (as recall's legs make them), then
    one that depends on an earlier one's answer."""
    found = await asyncio.gather(
        graph.keyword_search("payments queue", FLT, 10),
        graph.get_memories(ids, [ALICE]),
        graph.entities_in_text([ALICE], "Atlas owns the payments queue", 8),
        graph.recall_read(ids, FLT, vec(0), lambda rows: [rows[0].id] if rows else []),
        graph.turn_neighbours(ids, [ALICE]),
        graph.preceding_turn(ALICE, "alice", "s1"))
    hashes = [m.content_hash for m in found[1]]
    return (*found, await graph.find_by_hashes(ALICE, hashes))


async def test_reads_in_a_scope_return_what_they_return_alone(graph: GraphStore) -> None:
    first, second = await put(graph, mem("the payments queue backed up", minute=1),
                              mem("Atlas owns the payments queue", minute=2))
    await graph.link_turns([TurnLink(first.id, 0), TurnLink(second.id, 1, first.id)], {})
    await graph.create_entities([Entity(id=new_id(), namespace=ALICE, name="Atlas",
                                        entity_type="team", attribution=first.attribution,
                                        updated_at=at(0))])
    ids = [first.id, second.id]
    alone = await _reads(graph, ids)
    async with graph.reading():
        shared = await _reads(graph, ids)
        again = await _reads(graph, ids)
    assert shared == alone
    assert again == alone


async def test_a_read_after_a_write_in_the_scope_sees_it(graph: GraphStore) -> None:
    (old,) = await put(graph, mem("the gateway runs on port 9090", minute=1))
    async with graph.reading():
        assert [m.id for m in await graph.get_memories([old.id], [ALICE])] == [old.id]
        (new,) = await put(graph, mem("the gateway moved to port 8080", minute=2))
        assert await graph.set_status([old.id], MemoryStatus.ARCHIVED, at(3),
                                      [ev("forget", targets=[old.id])]) == [old.id]
        found = await graph.get_memories([old.id, new.id], [ALICE])
    assert [(m.id, m.status) for m in found] == [(old.id, MemoryStatus.ARCHIVED),
                                                 (new.id, MemoryStatus.ACTIVE)]


async def test_scopes_nest(graph: GraphStore) -> None:
    (m,) = await put(graph, mem("nested scopes share the outer one"))
    async with graph.reading():
        async with graph.reading():
            inner = await graph.get_memories([m.id], [ALICE])
        outer = await graph.get_memories([m.id], [ALICE])
    assert inner == outer == [m]


async def test_a_block_commits_its_writes_and_reads_its_own(graph: GraphStore) -> None:
    question = committed(mem("where is the payments queue?", minute=1))
    reply = committed(mem("Atlas moved it to Kafka", minute=2, entities=["Kafka"]))
    kafka = Entity(id=new_id(), namespace=ALICE, name="Kafka", entity_type="unknown",
                   attribution=reply.attribution, updated_at=at(2))

    async def block() -> tuple[int, str | None]:
        created = await graph.create_entities([kafka])
        await graph.insert_memories([question, reply], [vec(1), vec(2)],
                                    [ev("remember", targets=[question.id, reply.id])],
                                    contexts={reply.id: question.text})
        await graph.link_turns([TurnLink(question.id, 0), TurnLink(reply.id, 1, question.id)],
                               {})
        seen = await graph.find_by_hash(ALICE, reply.content_hash)
        return len(created), seen.id if seen is not None else None

    async with graph.reading():
        assert await graph.write_together(block) == (1, reply.id)
        # a read of the enclosing scope after the block sees everything it wrote
        assert await graph.memories_mentioning(["Kafka"], FLT, 10) == [reply.id]
    assert [m.commit_state for m in await graph.get_memories([question.id, reply.id],
                                                             [ALICE])] == \
        [CommitState.COMMITTED] * 2
    assert await graph.turn_neighbours([reply.id], [ALICE]) == {reply.id: (question.id,)}
    # the reply is found by the question's words, which its keyword context holds
    assert {i for i, _ in await graph.keyword_search("payments queue", FLT, 5)} == \
        {question.id, reply.id}
    assert [e.id for e in await graph.search_nodes([ALICE], "Kafka", 5)] == [kafka.id]


async def test_blocks_nest(graph: GraphStore) -> None:
    a, b = mem("outer block", minute=1), mem("inner block", minute=2)

    async def inner() -> None:
        await graph.insert_memories([committed(b)], [vec(2)])

    async def outer() -> None:
        await graph.insert_memories([committed(a)], [vec(1)])
        await graph.write_together(inner)

    await graph.write_together(outer)
    assert {m.id for m in await graph.get_memories([a.id, b.id], [ALICE])} == {a.id, b.id}


@pytest.mark.neo4j
async def test_on_neo4j_a_failed_block_keeps_none_of_its_writes(
        graph: GraphStore) -> None:
    if not isinstance(graph, Neo4jGraphStore):
        pytest.skip("an embedded store may commit each write of a block as it is made")
    m = committed(mem("written, then the block fails"))

    async def block() -> None:
        await graph.insert_memories([m], [vec(1)], [ev("remember", targets=[m.id])])
        raise ValueError("the caller's step after the write failed")

    with pytest.raises(ValueError):
        await graph.write_together(block)
    assert await graph.get_memories([m.id], [ALICE]) == []
    assert await graph.count_indexable() == 0


@pytest.mark.neo4j
@pytest.mark.parametrize("keyword_alone", [False, True])
async def test_on_neo4j_a_recall_scope_is_one_read_transaction(
        graph: GraphStore, keyword_alone: bool) -> None:
    if not isinstance(graph, Neo4jGraphStore):
        pytest.skip("counts Neo4j transactions")
    graph.keyword_alone = keyword_alone  # the keyword leg in a transaction of its own
    first, second = await put(graph, mem("the payments queue backed up", minute=1),
                              mem("Atlas owns the payments queue", minute=2))
    before = dict(graph.db.transactions)
    async with graph.reading():
        shared = await _reads(graph, [first.id, second.id])
    assert graph.db.transactions["read"] - before.get("read", 0) == 1 + keyword_alone
    assert graph.db.transactions["write"] == before.get("write", 0)
    assert shared == await _reads(graph, [first.id, second.id])
