"""GraphStore contract, keyword search of issue 18 (SQLite and a real Neo4j): statistics
from the searched namespaces only, the keyword context, a writer's preceding turn; and
issue 22's recall reads: BM25 scores as `domain.ranking.bm25` makes them (Neo4j computes
them on the server), query syntax kept inert, the candidates' rows with similarities."""

from __future__ import annotations

import numpy as np
import pytest

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.domain.ranking import bm25
from fleetmem.memory.ports import GraphStore
from tests.contract.values import ALICE, BOB, at, ev, flt, mem, put, vec


async def test_one_namespace_ranking_ignores_another_namespace_content(
        graph: GraphStore) -> None:
    await put(graph, mem("the payments deploy failed on friday"),
              mem("payments team lunch is on friday"),
              mem("the deploy pipeline for search is green", minute=1))
    query = "payments deploy friday"
    before = await graph.keyword_search(query, flt(ALICE), 10)
    # another namespace fills up with one of the query's words: in store-wide statistics
    # that word would get rarer or commoner for alice too
    await put(graph, *(mem(f"deploy number {i} of bob's service", BOB, by="bob")
                       for i in range(30)), seed=10)
    await put(graph, mem("friday friday friday", BOB, by="bob"), seed=50)
    after = await graph.keyword_search(query, flt(ALICE), 10)
    assert [h for h, _ in after] == [h for h, _ in before]
    assert [round(s, 9) for _, s in after] == [round(s, 9) for _, s in before]


async def test_keyword_context_is_searched_but_never_shown(graph: GraphStore) -> None:
    answer = mem("Caroline: it was so powerful, I felt accepted")
    other = mem("Caroline: I painted a lake at sunrise", minute=1)
    await graph.insert_memories([answer, other], [vec(1), vec(2)], contexts={
        answer.id: "Melanie: how was the LGBTQ support group?\n8 May 2023 d20230508"})
    await graph.mark_committed([answer.id, other.id], [ev("remember")])
    hits = await graph.keyword_search("LGBTQ support group", flt(ALICE), 10)
    assert [h for h, _ in hits] == [answer.id]
    assert [h for h, _ in await graph.keyword_search("d20230508", flt(ALICE), 10)] == \
        [answer.id]
    [stored] = await graph.get_memories([answer.id], [ALICE])
    assert stored.text == answer.text


async def test_preceding_turn_is_the_writers_latest_in_namespace_and_session(
        graph: GraphStore) -> None:
    assert await graph.preceding_turn(ALICE, "alice", "s1") is None
    await put(graph, mem("first turn"), mem("second turn", minute=2),
              mem("bob's turn", minute=3, by="bob"), mem("elsewhere", BOB, minute=4))
    assert await graph.preceding_turn(ALICE, "alice", "s1") == ("second turn", at(2))
    assert await graph.preceding_turn(ALICE, "alice", None) is None


async def test_keyword_scores_are_bm25_over_the_searched_namespaces(
        graph: GraphStore) -> None:
    # words chosen so that stemming leaves them alone on both stores' analyzers
    texts = ["kafka broker lag", "kafka topic", "postgres vacuum", "redis cache warm"]
    mine = await put(graph, *(mem(t) for t in texts))
    await put(graph, *(mem(f"kafka broker {i}", BOB, by="bob") for i in range(5)), seed=20)
    hits = await graph.keyword_search("kafka broker", flt(ALICE), 10)
    # alice's four memories (any status counts) are the collection; bob's five are not
    expected = bm25({"kafka": [(mine[0].id, len(texts[0])), (mine[1].id, len(texts[1]))],
                     "broker": [(mine[0].id, len(texts[0]))]}, 4)
    assert [h for h, _ in hits] == sorted(expected, key=lambda i: -expected[i])
    assert dict(hits) == pytest.approx(expected, rel=1e-9)


async def test_keyword_query_syntax_is_inert(graph: GraphStore) -> None:
    [a] = await put(graph, mem("deploy notes for kafka"))
    await put(graph, mem("kafka secret of bob", BOB, by="bob"), seed=5)
    for query in ['kafka" OR namespace:agent*', "kafka) OR (*:*", 'kafka \\" ~2 ^9 [a TO z]',
                  "text:kafka OR keyword_context:kafka", "kafka' MATCH (n) DETACH DELETE n //"]:
        assert [h for h, _ in await graph.keyword_search(query, flt(ALICE), 10)] == [a.id]
    assert await graph.keyword_search("*:*", flt(ALICE), 10) == []


async def test_namespace_statistic_follows_deletes(graph: GraphStore) -> None:
    [a, b] = await put(graph, mem("kafka broker lag"), mem("kafka topic"))
    pending = mem("unrelated pending write", minute=1)
    await graph.insert_memories([pending], [vec(9)])
    await graph.delete_pending([pending.id])
    [gone] = await put(graph, mem("postgres vacuum"), seed=3)
    await graph.set_status([gone.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    await graph.purge_memories([gone.id], [ev("purge")])
    hits = dict(await graph.keyword_search("kafka broker", flt(ALICE), 10))
    expected = bm25({"kafka": [(a.id, len(a.text)), (b.id, len(b.text))],
                     "broker": [(a.id, len(a.text))]}, 2)
    assert hits == pytest.approx(expected, rel=1e-9)


async def test_recall_candidates_bring_rows_and_similarities_in_id_order(
        graph: GraphStore) -> None:
    a, b = await put(graph, mem("one"), mem("two", minute=1))
    [c] = await put(graph, mem("bob's", BOB, by="bob"), seed=7)
    query = vec(42)
    ids = [b.id, c.id, a.id, "00000000-0000-4000-8000-000000000000"]
    rows = await graph.recall_candidates(ids, flt(), query)
    assert [(m, d) for m, d, _ in rows] == [(b, False), (a, False)]
    assert [s for _, _, s in rows] == pytest.approx(
        [float(np.dot(vec(1), query)), float(np.dot(vec(0), query))], abs=1e-6)
    assert [s for _, _, s in await graph.recall_candidates([a.id], flt(), None)] == [None]
    assert await graph.recall_candidates([], flt(), query) == []
    assert [m.id for m, _, _ in await graph.recall_candidates(ids, flt(ALICE, BOB), query)] \
        == [b.id, c.id, a.id]
