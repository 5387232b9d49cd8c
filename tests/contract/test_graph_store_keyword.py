"""GraphStore contract, keyword search of issue 18 (SQLite and a real Neo4j): statistics
from the searched namespaces only, the keyword context, a writer's preceding turn."""

from __future__ import annotations

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
