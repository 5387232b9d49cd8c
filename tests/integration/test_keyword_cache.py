"""SQLite's keyword search keeps a term's matches between searches while their namespaces
are unchanged (`stores/keyword_cache.py`): every kind of write that changes what the
search reads, from this store or from another connection to the file, is seen at once,
and an unchanged namespace is answered from the cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import MemoryFilter, TurnLink
from fleetmem.memory.stores.keyword_cache import OVER_BUDGET, KeywordCache
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.contract.values import ALICE, BOB, at, downgrade, ev, flt, mem, put, vec

QUERY = "ferry harbour kafka"


async def _cold(store: SqliteGraphStore, f: MemoryFilter) -> list[tuple[str, float]]:
    """The search with nothing cached (every term read from the index)."""
    kept, store.db.keyword_cache = store.db.keyword_cache, KeywordCache(0)
    try:
        return await store.keyword_search(QUERY, f, 20)
    finally:
        store.db.keyword_cache = kept


async def test_every_change_to_what_the_search_reads_is_seen_and_the_rest_is_kept(
        tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite3"
    store, other = SqliteGraphStore(path), SqliteGraphStore(path)
    await store.open()
    await other.open()
    try:
        first = await put(store, *(mem(f"ferry {w} at the harbour", minute=i)
                                   for i, w in enumerate(["north", "south", "east"])))
        await put(store, mem("bob's ferry", BOB, by="bob", minute=5), seed=20)
        pending = mem("ferry still pending", minute=6)
        turns = [mem("Nia: the kafka lag again", minute=7), mem("Ola: yes", minute=8)]
        moves: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("a new memory", lambda: put(store, mem("another ferry", minute=9), seed=30)),
            ("a pending memory", lambda: store.insert_memories([pending], [vec(40)])),
            ("its commit", lambda: store.mark_committed([pending.id], [ev("remember")])),
            ("an archive", lambda: store.set_status(
                [first[0].id], MemoryStatus.ARCHIVED, at(10), [ev("forget")])),
            ("memories with a keyword context", lambda: store.insert_memories(
                turns, [vec(50), vec(51)], contexts={turns[0].id: "ferry harbour"})),
            ("their commit", lambda: store.mark_committed([m.id for m in turns],
                                                          [ev("remember")])),
            ("a turn appended to a context", lambda: store.link_turns(
                [TurnLink(turns[1].id, 1, turns[0].id)],
                {turns[0].id: "Ola: the harbour ferry"})),
            ("a write of another connection", lambda: put(
                other, mem("ferry from the other process", minute=11), seed=60)),
            ("a purge", lambda: store.purge_memories([first[1].id], [ev("gc")])),
        ]
        filters = [flt(ALICE), flt(ALICE, BOB),
                   flt(ALICE, statuses=(MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED))]
        cache = store.db.keyword_cache
        bob = await store.keyword_search(QUERY, flt(BOB), 20)
        for name, move in [("nothing", _nothing), *moves]:
            await move()
            for f in filters:
                warm = await store.keyword_search(QUERY, f, 20)
                assert warm == await _cold(store, f), (name, f)
                hits = cache.hits
                assert await store.keyword_search(QUERY, f, 20) == warm, (name, f)
                assert cache.hits == hits + 3, (name, f)  # unchanged: all three terms kept
        # Bob's namespace did not change after its first search: every write above was in
        # Alice's, so his terms are still answered from the cache
        hits = cache.hits
        assert await store.keyword_search(QUERY, flt(BOB), 20) == bob
        assert cache.hits == hits + 3
    finally:
        await other.close()
        await store.close()


async def _nothing() -> None:
    return None


async def test_a_store_made_before_the_version_column_gets_it_and_searches_alike(
        tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite3"
    store = SqliteGraphStore(path)
    await store.open()
    [a] = await put(store, mem("ferry at the harbour"))
    before = await store.keyword_search(QUERY, flt(ALICE), 10)
    await store.close()
    downgrade(path, ("keyword_version_ai", "keyword_version_au", "keyword_version_ad"),
              "ALTER TABLE namespace_docs DROP COLUMN version")  # the previous release
    store = SqliteGraphStore(path)
    await store.open()
    try:
        assert [h for h, _ in before] == [a.id]
        assert await store.keyword_search(QUERY, flt(ALICE), 10) == before
        [b] = await put(store, mem("a second ferry", minute=1), seed=5)
        assert {h for h, _ in await store.keyword_search(QUERY, flt(ALICE), 10)} == \
            {a.id, b.id}
    finally:
        await store.close()


def test_the_cache_is_bounded_by_matches_and_keyed_by_versions() -> None:
    cache = KeywordCache(max_matches=6)
    cache.put("a", (1,), [(1, 10), (2, 20)])
    cache.put("b", (1,), None)
    assert cache.get("a", (1,)) == [(1, 10), (2, 20)]
    assert cache.get("a", (2,)) is None  # another version: not kept
    assert cache.get("b", (1,)) == OVER_BUDGET
    cache.put("c", (1,), [(3, 5), (4, 5)])  # 3 + 1 + 3 > 6: the least recent (a) goes
    assert cache.get("a", (1,)) is None
    assert cache.get("b", (1,)) == OVER_BUDGET and cache.get("c", (1,)) == [(3, 5), (4, 5)]
    cache.put("d", (1,), [(i, 1) for i in range(9)])  # larger than the cache: not kept
    assert cache.get("d", (1,)) is None and cache.get("c", (1,)) is not None
    cache.put("e", (None, 3), [])
    assert cache.get("e", (None, 3)) == []
    cache.clear()
    assert cache.get("c", (1,)) is None

