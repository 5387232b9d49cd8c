"""GraphStore contract, recall's reads (SQLite and a real Neo4j): the candidates' rows
with their similarities to the question, the best ones' neighbouring turns and the rows of
the new ones, all in one read (`recall_read`); the namespaces the dense search keeps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import GraphStore, MemoryFilter, RecallRead, RecallRow, TurnLink, Vector
from tests.contract.values import ALICE, BOB, at, ev, flt, mem, put, vec


async def rows_of(graph: GraphStore, ids: Sequence[str], f: MemoryFilter,
                  query: Vector | None) -> list[RecallRow]:
    """The candidates' rows of a `recall_read` that picks no neighbours."""
    return (await graph.recall_read(ids, f, query, lambda rows: [])).rows


async def test_candidates_rows_bring_memories_and_similarities_in_id_order(
        graph: GraphStore) -> None:
    a, b = await put(graph, mem("one"), mem("two", minute=1))
    [c] = await put(graph, mem("bob's", BOB, by="bob"), seed=7)
    query = vec(42)
    ids = [b.id, c.id, a.id, "00000000-0000-4000-8000-000000000000"]
    rows = await rows_of(graph, ids, flt(), query)
    assert [(r.id, r.memory, r.disputed) for r in rows] == [(b.id, b, False), (a.id, a, False)]
    assert [r.similarity for r in rows] == pytest.approx(
        [float(np.dot(vec(1), query)), float(np.dot(vec(0), query))], abs=1e-6)
    assert [r.similarity for r in await rows_of(graph, [a.id], flt(), None)] == [None]
    assert await rows_of(graph, [], flt(), query) == []
    assert [r.id for r in await rows_of(graph, ids, flt(ALICE, BOB), query)] \
        == [b.id, c.id, a.id]


async def test_recall_read_brings_rows_the_picked_ones_neighbours_and_their_rows(
        graph: GraphStore) -> None:
    turns = [mem(f"turn number {i}", minute=i) for i in range(6)]
    stored = await put(graph, *turns)
    await graph.link_turns([TurnLink(m.id, i, turns[i - 1].id if i else None)
                            for i, m in enumerate(turns)], {})
    await graph.set_status([turns[4].id], MemoryStatus.ARCHIVED, at(9), [ev("forget")])
    query = vec(42)
    ids = [turns[3].id, turns[1].id, turns[2].id, turns[4].id]
    seen: list[list[str]] = []

    def pick(rows: list[RecallRow]) -> list[str]:
        seen.append([r.id for r in rows])
        return [turns[1].id, turns[3].id]

    read = await graph.recall_read(ids, flt(), query, pick)
    # the candidates' rows, given to pick once (the archived one has no row)
    assert read.rows == await rows_of(graph, ids, flt(), query)
    assert seen == [[turns[3].id, turns[1].id, turns[2].id]]
    assert read.near == await graph.turn_neighbours([turns[1].id, turns[3].id], [ALICE])
    # the picked ones' neighbours that were no candidate: turn 0 (turn 4 is a candidate)
    assert read.more == await rows_of(graph, [turns[0].id], flt(), query)
    assert read.more[0].memory == stored[0]
    assert read.more[0].similarity == pytest.approx(float(np.dot(vec(0), query)), abs=1e-6)
    # nothing picked: no neighbours; another namespace: nothing, whatever pick names
    nothing = await graph.recall_read(ids, flt(), None, lambda rows: [])
    assert (nothing.near, nothing.more, len(nothing.rows)) == ({}, [], 3)
    seen.clear()
    assert await graph.recall_read(ids, flt(BOB), query, pick) == RecallRead([], {}, [])
    assert await graph.recall_read([], flt(), query, pick) == RecallRead([], {}, [])
    assert seen == [[]]  # called for the other namespace (no rows), not for no ids


async def test_namespaces_in_use_are_those_holding_a_memory(graph: GraphStore) -> None:
    team = "team:atlas"
    assert await graph.namespaces_in_use([ALICE, BOB, team]) == []
    [a] = await put(graph, mem("kafka broker lag"))
    pending = mem("bob's pending write", BOB, by="bob")
    await graph.insert_memories([pending], [vec(9)])
    # any status or commit state counts (the dense filter only narrows on what is empty)
    assert await graph.namespaces_in_use([team, BOB, ALICE, BOB]) == [BOB, ALICE]
    await graph.delete_pending([pending.id])
    await graph.set_status([a.id], MemoryStatus.ARCHIVED, at(3), [ev("forget")])
    assert await graph.namespaces_in_use([ALICE, BOB, team]) == [ALICE]
    assert await graph.namespaces_in_use([]) == []
