"""GraphStore contract: buffers, the audit hash chain and stats, on SQLite and Neo4j."""

from __future__ import annotations

import asyncio

from fleetmem.memory.domain.audit import GENESIS, first_broken
from fleetmem.memory.domain.models import BufferItem, MemoryStatus
from fleetmem.memory.domain.text import new_id
from fleetmem.memory.ports import GraphStore
from tests.contract.values import ALICE, BOB, TEAM, at, ent, ev, mem, put, rel, vec


def item(text: str, minute: float = 0, *, agent: str = "alice", session: str = "s1",
         ns: str = ALICE) -> BufferItem:
    return BufferItem(id=new_id(), agent_id=agent, session_id=session, namespace=ns,
                      role="user", text=text, created_at=at(minute), importance=0.7,
                      workflow_id="wf", on_behalf_of="human:dana")


async def test_buffer_read_is_chronological_with_insertion_tiebreak(graph: GraphStore) -> None:
    items = [item(f"turn {i}", minute=0) for i in range(3)] + [item("later", minute=1)]
    await graph.buffer_append(items[:2])
    await graph.buffer_append(items[2:])
    await graph.buffer_append([item("other session", session="s2"), item("bob's", agent="bob")])
    assert await graph.buffer_read("alice", "s1", 10) == items
    assert [i.text for i in await graph.buffer_read("alice", "s1", 2)] == ["turn 2", "later"]


async def test_buffer_consolidation_marks_and_deletes(graph: GraphStore) -> None:
    old, mid, new = item("old", 0), item("mid", 5), item("new", 10)
    await graph.buffer_append([old, mid, new])
    await graph.buffer_mark_consolidated([(old.id, "m-1"), (new.id, "m-2")])
    unconsolidated = await graph.buffer_read("alice", "s1", 10, include_consolidated=False)
    assert [i.text for i in unconsolidated] == ["mid"]
    first = (await graph.buffer_read("alice", "s1", 3))[0]
    assert first.consolidated_into == "m-1"
    assert await graph.buffer_sessions_older_than(at(6)) == [("alice", "s1")]
    assert await graph.buffer_sessions_older_than(at(0)) == []
    assert await graph.buffer_delete_before("alice", "s1", at(20)) == 2
    assert [i.text for i in await graph.buffer_read("alice", "s1", 10)] == ["mid"]
    assert await graph.buffer_clear("alice", "s1") == 1
    assert await graph.buffer_clear("alice", "s1") == 0
    await graph.buffer_append([item("after clear", 30)])
    assert [i.text for i in await graph.buffer_read("alice", "s1", 10)] == ["after clear"]


async def test_audit_chain_links_and_filters(graph: GraphStore) -> None:
    assert await graph.last_audit() is None
    await graph.append_audit([ev("a", ALICE, 0), ev("b", None, 1)])
    await graph.append_audit([])
    await graph.append_audit([ev("c", TEAM, 2, targets=["x", "y"])])
    events = await graph.audit_events(None, 0, 100)
    assert [(e.seq, e.operation) for e in events] == [(1, "a"), (2, "b"), (3, "c")]
    assert events[0].prev_hash == GENESIS and events[1].prev_hash == events[0].hash
    assert first_broken(events) is None
    assert events[2].target_ids == ("x", "y") and events[2].at == at(2)
    assert [e.seq for e in await graph.audit_events([TEAM, BOB], 0, 10)] == [3]
    assert [e.seq for e in await graph.audit_events(None, 1, 1)] == [2]
    assert await graph.last_audit() == events[-1]


async def test_concurrent_audited_writes_keep_one_unbroken_chain(graph: GraphStore) -> None:
    memories = [mem(f"parallel write {i}") for i in range(6)]
    await asyncio.gather(*(put(graph, m) for m in memories),
                         *(graph.append_audit([ev(f"op{i}"), ev(f"op{i}b")]) for i in range(4)))
    events = await graph.audit_events(None, 0, 100)
    assert [e.seq for e in events] == list(range(1, 15))
    assert first_broken(events) is None


async def test_committed_audit_heads_are_reported_to_the_watcher(graph: GraphStore) -> None:
    heads: list[tuple[int, str]] = []
    graph.watch_audit_head(lambda seq, digest: heads.append((seq, digest)))
    await graph.append_audit([ev("a"), ev("b")])
    await put(graph, mem("a committed memory"))  # audit appended inside a larger write
    await graph.buffer_append([item("no audit here")])
    events = await graph.audit_events(None, 0, 100)
    assert heads == [(2, events[1].hash), (3, events[2].hash)]
    await asyncio.gather(*(graph.append_audit([ev(f"op{i}")]) for i in range(4)))
    assert max(heads)[0] == 7 and len(heads) == 6  # concurrent commits: any order
    last = await graph.last_audit()
    assert last is not None and (last.seq, last.hash) in heads
    graph.watch_audit_head(None)
    await graph.append_audit([ev("unwatched")])
    assert len(heads) == 6


async def test_stats_count_per_namespace(graph: GraphStore) -> None:
    _, b, _ = await put(graph, mem("one"), mem("two"), mem("three"))
    await graph.set_status([b.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    await graph.insert_memories([mem("pending")], [vec(0)])
    await graph.create_entities([ent("Atlas"), ent("Zeus"), ent("Hera", TEAM)])
    await graph.create_relations([rel("Atlas", "Zeus", "knows"), rel("Zeus", "Atlas", "knows")])
    await graph.close_relations(ALICE, "Zeus", "knows", at(2))
    await graph.buffer_append([item("x"), item("y", ns=TEAM)])
    stats = {s.namespace: s for s in await graph.stats([ALICE, TEAM, BOB])}
    assert stats[ALICE].memories_by_status == {"active": 2, "archived": 1}
    assert (stats[ALICE].entities, stats[ALICE].relations, stats[ALICE].buffer_items) == (2, 1, 1)
    assert (stats[TEAM].entities, stats[TEAM].buffer_items, stats[TEAM].memories_by_status) == \
        (1, 1, {})
    assert stats[BOB].entities == 0
    assert await graph.stats([]) == []
