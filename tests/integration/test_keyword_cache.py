"""The keyword cache itself (`stores/keyword_cache.py`), and SQLite's keyword version on a
store made before it. That every write is seen, on both stores, is the contract suite's
`test_graph_store_keyword_cache.py`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fleetmem.memory.domain.ranking import Postings, postings_of
from fleetmem.memory.stores.keyword_cache import OVER_BUDGET, KeywordCache
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.contract.values import ALICE, downgrade, flt, mem, put

QUERY = "ferry harbour kafka"


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


def _p(*pairs: tuple[int, int]) -> Postings:
    return postings_of(list(pairs))


def _same(got: Postings | str | None, want: Postings) -> bool:
    return isinstance(got, tuple) and all(np.array_equal(a, b) for a, b in zip(got, want,
                                                                              strict=True))


def test_the_cache_is_bounded_by_matches_and_keyed_by_versions() -> None:
    cache = KeywordCache(max_matches=6)
    a = _p((1, 10), (2, 20))
    cache.put("a", (1,), a)
    cache.put("b", (1,), None)
    assert _same(cache.get("a", (1,)), a)
    assert cache.get("a", (2,)) is None  # another version: not kept
    assert cache.get("b", (1,)) == OVER_BUDGET
    c = _p((3, 5), (4, 5))
    cache.put("c", (1,), c)  # 3 + 1 + 3 > 6: the least recent (a) goes
    assert cache.get("a", (1,)) is None
    assert cache.get("b", (1,)) == OVER_BUDGET and _same(cache.get("c", (1,)), c)
    cache.put("d", (1,), _p(*((i, 1) for i in range(9))))  # larger than the cache: not kept
    assert cache.get("d", (1,)) is None and cache.get("c", (1,)) is not None
    empty = _p()
    cache.put("e", (None, 3), empty)
    assert _same(cache.get("e", (None, 3)), empty)
    cache.clear()
    assert cache.get("c", (1,)) is None
