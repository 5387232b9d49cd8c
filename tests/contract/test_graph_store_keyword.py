"""GraphStore contract, keyword search of issue 18 (SQLite and a real Neo4j): statistics
from the searched namespaces only, the keyword context, a writer's preceding turn, the
order of a conversation and its neighbours."""

from __future__ import annotations

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import GraphStore, TurnLink
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
    prior = await graph.preceding_turn(ALICE, "alice", "s1")
    assert prior is not None and (prior.text, prior.valid_from, prior.seq) == \
        ("second turn", at(2), -1)  # no sequence recorded for these
    assert await graph.preceding_turn(ALICE, "alice", None) is None


async def test_turns_of_one_write_time_keep_their_order_and_neighbours(
        graph: GraphStore) -> None:
    # one batch: the same write time for every turn, so only `seq` orders them
    turns = [mem(f"turn number {i}") for i in range(4)]
    stored = await put(graph, *turns)
    await graph.link_turns([TurnLink(m.id, i, turns[i - 1].id if i else None)
                            for i, m in enumerate(turns)], {})
    prior = await graph.preceding_turn(ALICE, "alice", "s1")
    assert prior is not None and (prior.id, prior.seq) == (turns[3].id, 3)
    near = await graph.turn_neighbours([turns[0].id, turns[2].id], [ALICE])
    assert near == {turns[0].id: (turns[1].id,), turns[2].id: (turns[1].id, turns[3].id)}
    # never across the namespace boundary the caller reads
    assert await graph.turn_neighbours([turns[2].id], [BOB]) == {}
    # a forgotten turn is no neighbour
    await graph.set_status([turns[3].id], MemoryStatus.ARCHIVED, at(5), [ev("forget")])
    assert (await graph.turn_neighbours([turns[2].id], [ALICE]))[turns[2].id] == \
        (turns[1].id, turns[3].id)  # archived is still a committed turn of the talk
    assert stored[0].id == turns[0].id


async def test_a_later_turn_is_appended_to_the_previous_turns_keyword_context(
        graph: GraphStore) -> None:
    question = mem("Melanie: how was the support group yesterday?")
    await graph.insert_memories([question], [vec(1)], contexts={question.id: "8 May 2023"})
    await graph.mark_committed([question.id], [ev("remember")])
    plain = mem("Caroline: I painted a lake", minute=1)
    await put(graph, plain, seed=5)
    reply = mem("Caroline: it was so powerful, I felt accepted", minute=2)
    await put(graph, reply, seed=9)
    await graph.link_turns([TurnLink(reply.id, 1, question.id)],
                           {question.id: reply.text, plain.id: "painted sunrise accepted"})
    hits = [h for h, _ in await graph.keyword_search("powerful accepted", flt(ALICE), 10)]
    assert set(hits) == {reply.id, question.id, plain.id}
    # the context it had is kept
    assert [h for h, _ in await graph.keyword_search("8 May 2023", flt(ALICE), 10)] == \
        [question.id]
    [shown] = await graph.get_memories([question.id], [ALICE])
    assert shown.text == question.text
    assert await graph.turn_neighbours([question.id], [ALICE]) == {question.id: (reply.id,)}
