"""Both graph stores keep a term's keyword matches between searches while their namespaces
are unchanged (`stores/keyword_cache.py`): every kind of write that changes what the
search reads, from this store or from a second one on the same data (another process or
replica), is seen at once, and an unchanged namespace is answered from the cache.

SQLite sees the writes through triggers on `keyword_docs`; Neo4j through the version every
such statement sets (`codec.KEYWORD_CHANGED`), so a write path that forgot it fails here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import GraphStore, MemoryFilter, TurnLink
from fleetmem.memory.stores.keyword_cache import KeywordCache
from tests.contract.conftest import GRAPH_BACKENDS, open_graph
from tests.contract.values import ALICE, BOB, at, committed, ev, flt, mem, put, vec

QUERY = "ferry harbour kafka"


def _cache(store: GraphStore) -> KeywordCache[int] | KeywordCache[str]:
    cache: KeywordCache[int] | KeywordCache[str] = store.db.keyword_cache  # type: ignore[attr-defined]
    return cache


async def _cold(store: GraphStore, f: MemoryFilter) -> list[tuple[str, float]]:
    """The search with nothing cached (every term read from the index)."""
    kept = _cache(store)
    store.db.keyword_cache = KeywordCache(0)  # type: ignore[attr-defined]
    try:
        return await store.keyword_search(QUERY, f, 20)
    finally:
        store.db.keyword_cache = kept  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_every_change_to_what_the_search_reads_is_seen_and_the_rest_is_kept(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = open_graph(backend, request, tmp_path)
    await store.open()
    other = open_graph(backend, request, tmp_path, wipe=False)
    await other.open()
    try:
        first = await put(store, *(mem(f"ferry {w} at the harbour", minute=i)
                                   for i, w in enumerate(["north", "south", "east"])))
        await put(store, mem("bob's ferry", BOB, by="bob", minute=5), seed=20)
        pending = mem("ferry still pending", minute=6)
        dropped = mem("ferry never committed", minute=6.5)
        turns = [mem("Nia: the kafka lag again", minute=7), mem("Ola: yes", minute=8)]
        correction = mem("ferry north moved to the old harbour", minute=12)
        moves: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("a new memory", lambda: put(store, mem("another ferry", minute=9), seed=30)),
            # remember writes a new memory committed in one statement
            ("a memory inserted committed", lambda: store.insert_memories(
                [committed(mem("ferry written at once", minute=9.5))], [vec(35)])),
            ("a pending memory", lambda: store.insert_memories([pending, dropped],
                                                               [vec(40), vec(41)])),
            ("its commit", lambda: store.mark_committed([pending.id], [ev("remember")])),
            ("a pending memory dropped", lambda: store.delete_pending([dropped.id])),
            ("an archive", lambda: store.set_status(
                [first[0].id], MemoryStatus.ARCHIVED, at(10), [ev("forget")])),
            ("memories with a keyword context", lambda: store.insert_memories(
                turns, [vec(50), vec(51)], contexts={turns[0].id: "ferry harbour"})),
            ("their commit", lambda: store.mark_committed([m.id for m in turns],
                                                          [ev("remember")])),
            ("a turn appended to a context", lambda: store.link_turns(
                [TurnLink(turns[1].id, 1, turns[0].id)],
                {turns[0].id: "Ola: the harbour ferry"})),
            ("a write of another store on the same data", lambda: put(
                other, mem("ferry from the other process", minute=11), seed=60)),
            ("a correction", lambda: store.supersede(
                first[1].id, correction, vec(70), at(12), [ev("correct")])),
            ("a closure by the decay job", lambda: store.close_memories(
                [(first[2].id, at(13), None)], at(13), [ev("gc")])),
            ("a purge", lambda: store.purge_memories([first[0].id], [ev("gc")])),
        ]
        filters = [flt(ALICE), flt(ALICE, BOB),
                   flt(ALICE, statuses=(MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED))]
        cache = _cache(store)
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


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_a_filter_beyond_namespaces_and_statuses_is_never_cached(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = open_graph(backend, request, tmp_path)
    await store.open()
    try:
        [a] = await put(store, mem("ferry at the harbour", tags=["port"]))
        cache = _cache(store)
        tagged = flt(ALICE, tags=("port",))
        assert [i for i, _ in await store.keyword_search(QUERY, tagged, 10)] == [a.id]
        assert [i for i, _ in await store.keyword_search(QUERY, tagged, 10)] == [a.id]
        assert cache.hits == 0 and cache.misses == 0
    finally:
        await store.close()


async def _nothing() -> None:
    return None
