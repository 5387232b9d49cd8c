"""GraphStore contract, memory metadata of issue 18 (SQLite and a real Neo4j): stored and
read back as written, and filtered by exact top-level key/value pairs in every query the
recall legs and the listing use, before any limit applies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fleetmem.memory.ports import GraphStore
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.contract.values import ALICE, ent, flt, mem, put, recall_rows

META = {"source_id": "T-42", "n": 1, "flag": True, "score": 0.5,
        "nested": {"list": [1, "two", None]}}


async def test_metadata_round_trips(graph: GraphStore) -> None:
    [m, plain] = await put(graph, mem("ticket 42 is about the payments outage", metadata=META),
                           mem("no metadata here", minute=1))
    [got] = await graph.get_memories([m.id], [ALICE])
    assert got.metadata == META
    [bare] = await graph.get_memories([plain.id], [ALICE])
    assert bare.metadata == {}
    [(listed, _)] = await recall_rows(graph, [m.id], flt(ALICE))
    assert listed.metadata == META


async def test_filters_match_every_pair_with_its_type(graph: GraphStore) -> None:
    a, b, c, d = await put(
        graph, mem("payments outage ticket", metadata={"src": "jira", "n": 1}),
        mem("payments outage chat", minute=1, metadata={"src": "slack", "n": "1"}),
        mem("payments outage flag", minute=2, metadata={"src": "slack", "n": True}),
        mem("payments outage plain", minute=3))

    async def listed(*pairs: tuple[str, str | int | bool]) -> set[str]:
        return {m.id for m in await graph.list_memories(flt(ALICE, metadata=pairs), None, 50)}
    assert await listed(("src", "slack")) == {b.id, c.id}
    assert await listed(("n", 1)) == {a.id}
    assert await listed(("n", "1")) == {b.id}
    assert await listed(("n", True)) == {c.id}
    assert await listed(("src", "slack"), ("n", True)) == {c.id}
    assert await listed(("src", "jira"), ("n", True)) == set()
    assert await listed(("missing", "x")) == set()
    assert await listed() == {a.id, b.id, c.id, d.id}
    # the keyword leg filters before its limit: only matching rows compete
    hits = await graph.keyword_search("payments outage", flt(ALICE, metadata=(("n", 1),)), 1)
    assert [h for h, _ in hits] == [a.id]
    rows = await recall_rows(graph, [a.id, b.id, c.id, d.id],
                                   flt(ALICE, metadata=(("src", "slack"),)))
    assert [m.id for m, _ in rows] == [b.id, c.id]


async def test_metadata_filter_applies_to_entity_mentions(graph: GraphStore) -> None:
    await graph.create_entities([ent("Atlas")])
    a, _ = await put(graph, mem("Atlas owns payments", entities=["Atlas"],
                                metadata={"src": "wiki"}),
                     mem("Atlas moved floors", minute=1, entities=["Atlas"]))
    found = await graph.memories_mentioning(["atlas"], flt(ALICE, metadata=(("src", "wiki"),)),
                                            10)
    assert found == [a.id]


async def test_hostile_metadata_values_are_data(graph: GraphStore) -> None:
    """Values reach the stores as parameters: quotes and query syntax are plain text."""
    hostile = ["') OR 1=1 --", "\" OR true //", "x' }) MATCH (n) DETACH DELETE n //"]
    made = await put(graph, *(mem(f"note {i}", minute=i, metadata={"v": h})
                              for i, h in enumerate(hostile)))
    for m, h in zip(made, hostile, strict=True):
        found = await graph.list_memories(flt(ALICE, metadata=(("v", h),)), None, 10)
        assert [x.id for x in found] == [m.id]


async def test_sqlite_database_without_the_column_gains_it_on_open(tmp_path: Path) -> None:
    """A database written before metadata existed: opened, it gets the column, its
    memories read back with empty metadata, and new ones keep theirs."""
    path = tmp_path / "graph.sqlite3"
    store = SqliteGraphStore(path)
    await store.open()
    [old] = await put(store, mem("written before metadata existed"))
    await store.close()
    with sqlite3.connect(path) as c:  # the schema of the previous release
        c.execute("ALTER TABLE memories DROP COLUMN metadata")
    store = SqliteGraphStore(path)
    await store.open()
    try:
        [got] = await store.get_memories([old.id], [ALICE])
        assert got.metadata == {}
        [new] = await put(store, mem("written after", minute=1, metadata={"k": "v"}), seed=5)
        found = await store.list_memories(flt(ALICE, metadata=(("k", "v"),)), None, 10)
        assert [m.id for m in found] == [new.id]
    finally:
        await store.close()
