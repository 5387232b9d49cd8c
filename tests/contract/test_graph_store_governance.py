"""GraphStore contract, governance methods (audit queries, usage, conflicts): on SQLite and
Neo4j."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from fleetmem.memory.domain.audit import event
from fleetmem.memory.domain.conflicts import (
    Claim,
    ConflictKind,
    ConflictRecord,
    ConflictStatus,
    Resolution,
    pair_key,
)
from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.domain.text import new_id
from fleetmem.memory.ports import AuditQuery, GraphStore
from tests.contract.values import ALICE, BOB, TEAM, at, ev, mem, put, vec


async def test_audit_query_filters_and_orders(graph: GraphStore) -> None:
    await graph.append_audit([
        event("remember", "alice", at(0), namespace=ALICE, target_ids=("m1",), workflow_id="w1"),
        event("recall", "alice", at(1), namespace=None, target_ids=("m1", "m2")),
        event("remember", "bob", at(2), namespace=BOB, target_ids=("m3",), outcome="denied"),
        event("share", "bob", at(3), namespace=TEAM, target_ids=("m2",), workflow_id="w1"),
    ])

    async def seqs(limit: int = 10, **kw: object) -> list[int]:
        query = AuditQuery(**kw)  # type: ignore[arg-type]
        return [e.seq for e in await graph.audit_query(query, limit)]

    assert await seqs() == [1, 2, 3, 4]
    assert await seqs(visible_namespaces=(TEAM,), visible_agent="alice") == [1, 2, 4]
    assert await seqs(visible_namespaces=(), visible_agent="carol") == []
    assert await seqs(agent_id="bob") == [3, 4]
    assert await seqs(workflow_id="w1") == [1, 4]
    assert await seqs(target_id="m2") == [2, 4]
    assert await seqs(operation="remember", outcome="denied") == [3]
    assert await seqs(after_seq=2) == [3, 4]
    assert await seqs(newest_first=True, limit=2) == [4, 3]
    [one] = await graph.audit_query(AuditQuery(target_id="m3"), 5)
    assert one == (await graph.audit_events(None, 2, 1))[0]


async def test_usage_by_author_counts_committed_bytes(graph: GraphStore) -> None:
    a, _ = await put(graph, mem("héllo", by="alice"), mem("abc", by="bob"))
    await put(graph, mem("team note", TEAM, by="alice"))
    await graph.set_status([a.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    await graph.insert_memories([mem("pending is not counted", by="carol")], [vec(0)])
    assert await graph.usage_by_author(None) == {"alice": (2, 6 + 9), "bob": (1, 3)}
    assert await graph.usage_by_author([TEAM]) == {"alice": (1, 9)}
    assert await graph.usage_by_author([]) == {}


def conflict(ns: str = ALICE, *, values: tuple[str, str] = ("Acme", "Globex"),
             minute: float = 0, a_mem: str | None = None,
             b_mem: str | None = None) -> ConflictRecord:
    return ConflictRecord(
        id=new_id(), namespace=ns, kind=ConflictKind.RELATION, subject="Dana",
        attribute="works_at",
        a=Claim(values[0], f"Dana works at {values[0]}", "alice", at(minute), a_mem, "r1"),
        b=Claim(values[1], f"Dana works at {values[1]}", "bob", at(minute), b_mem, None),
        created_at=at(minute), workflow_id="wf",
        pair_key=pair_key(ns, ConflictKind.RELATION, "Dana", "works_at", *values))


async def test_one_open_conflict_per_pair_key(graph: GraphStore) -> None:
    first = conflict()
    twins = [replace(first, id=new_id()) for _ in range(3)]
    results = await asyncio.gather(*(graph.create_conflict(c, [ev("conflict")])
                                     for c in [first, *twins]))
    winners = {r.id for r in results}
    assert len(winners) == 1
    listed = await graph.list_conflicts([ALICE])
    assert [c.id for c in listed] == list(winners)
    assert listed[0] == next(c for c in [first, *twins] if c.id in winners)
    events = await graph.audit_events(None, 0, 100)
    assert [e.operation for e in events] == ["conflict"]


async def test_resolve_is_compare_and_set_and_reopening_is_allowed(graph: GraphStore) -> None:
    c = await graph.create_conflict(conflict(), [ev("conflict")])
    done = Resolution("b", "dana", at(5), on_behalf_of="human:dana", workflow_id="w", note="ok")
    results = await asyncio.gather(*(graph.resolve_conflict(c.id, done, [ev("resolve")])
                                     for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert not await graph.resolve_conflict(new_id(), done, [ev("resolve")])
    [got] = await graph.list_conflicts([ALICE], conflict_ids=[c.id])
    assert (got.status, got.resolution) == (ConflictStatus.RESOLVED, done)
    again = await graph.create_conflict(conflict(minute=9), [ev("conflict")])
    assert again.id != c.id and again.status is ConflictStatus.OPEN
    assert [x.id for x in await graph.list_conflicts([ALICE], status=ConflictStatus.OPEN)] == \
        [again.id]
    assert [e.operation for e in await graph.audit_events(None, 0, 100)] == \
        ["conflict", "resolve", "conflict"]


async def test_list_conflicts_filters(graph: GraphStore) -> None:
    x = await graph.create_conflict(conflict(a_mem="m-a", minute=2), [ev("c")])
    y = await graph.create_conflict(conflict(values=("Acme", "Initech"), b_mem="m-b",
                                             minute=1), [ev("c")])
    z = await graph.create_conflict(conflict(TEAM), [ev("c")])
    assert [c.id for c in await graph.list_conflicts([ALICE])] == [y.id, x.id]
    assert [c.id for c in await graph.list_conflicts([ALICE, TEAM], limit=2)] == [z.id, y.id]
    assert [c.id for c in await graph.list_conflicts([ALICE], memory_ids=["m-b", "zz"])] == \
        [y.id]
    assert [c.id for c in await graph.list_conflicts([ALICE], memory_ids=["m-a"])] == [x.id]
    assert await graph.list_conflicts([ALICE], status=ConflictStatus.RESOLVED) == []
    assert await graph.list_conflicts([]) == []
