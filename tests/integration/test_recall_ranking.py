"""Issue 18's ranking on real embedded stores: relevance before importance and recency,
one namespace's ranking independent of another's content, event time and dates in
questions and texts, a conversation turn found through its preceding turn."""

from __future__ import annotations

from datetime import UTC, datetime

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService

ALICE = Caller("alice")
BOB = Caller("bob")
OCT = datetime(2023, 10, 7, 15, 0, tzinfo=UTC)


async def test_importance_and_pinning_never_beat_a_clearly_better_answer(
        service: MemoryService) -> None:
    lunch = await service.remember(ALICE, MemoryInput(
        text="The lunch place on Elm street shuts at 3 pm", importance=0.1))
    await service.remember(ALICE, MemoryInput(
        text="Deploy freeze: nothing ships to production after 3 pm on Fridays",
        importance=1.0, pinned=True))
    res = await service.recall(ALICE, RecallQuery(query="what time does the lunch place shut?",
                                                  k=3))
    assert res.hits[0].memory.id == lunch.id


async def test_one_namespace_ranking_does_not_move_when_another_changes(
        service: MemoryService) -> None:
    texts = ["The payments deploy failed on Friday", "Payments team lunch is on Friday",
             "The search pipeline deploys on Mondays", "Friday retro moved to the big room"]
    await service.remember_batch(ALICE, [MemoryInput(text=t) for t in texts])
    query = RecallQuery(query="why did the payments deploy fail friday", k=4,
                        namespaces=["agent:alice"])
    before = [(h.memory.id, h.why["keyword"], h.why["dense"])
              for h in (await service.recall(ALICE, query)).hits]
    await service.remember_batch(BOB, [MemoryInput(text=f"deploy {i} of bob's payments "
                                                   f"service on friday") for i in range(20)])
    after = [(h.memory.id, h.why["keyword"], h.why["dense"])
             for h in (await service.recall(ALICE, query)).hits]
    assert after == before


async def test_a_date_in_the_question_finds_the_memories_of_that_time(
        service: MemoryService) -> None:
    await service.remember_batch(ALICE, [
        MemoryInput(text="Dave: I spent the day hiking the ridge trail with my brother",
                    valid_from=OCT),
        MemoryInput(text="Dave: I spent the day hiking along the coast with my sister",
                    valid_from=datetime(2023, 6, 3, 15, 0, tzinfo=UTC)),
        MemoryInput(text="Dave: I spent the day hiking in the hills with my cousin",
                    valid_from=datetime(2022, 10, 1, 15, 0, tzinfo=UTC))])
    res = await service.recall(ALICE, RecallQuery(
        query="What was Dave doing in the first weekend of October 2023?", k=3))
    assert "ridge trail" in res.hits[0].memory.text
    assert res.hits[0].memory.valid_from == OCT


async def test_relative_dates_in_a_text_are_resolved_at_write_time(
        service: MemoryService) -> None:
    concert = await service.remember(ALICE, MemoryInput(
        text="Joanna: the concert yesterday was loud and wonderful", valid_from=OCT))
    await service.remember(ALICE, MemoryInput(
        text="Joanna: the concert was loud and wonderful, I loved it",
        valid_from=datetime(2023, 3, 2, 12, 0, tzinfo=UTC)))
    res = await service.recall(ALICE, RecallQuery(query="Which concert did Joanna go to on "
                                                  "6 October 2023?", k=2))
    assert res.hits[0].memory.id == concert.id
    assert "yesterday" in res.hits[0].memory.text  # the stored text is unchanged


async def test_a_reply_is_found_through_the_turn_before_it(service: MemoryService) -> None:
    session = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    turns = ["Melanie: How did the adoption agency interview go?",
             "Caroline: It went great, they said I'm a strong candidate!",
             "Melanie: I painted a lake at sunrise last week.",
             "Caroline: That sounds gorgeous, send me a photo."]
    ids = [r.id for r in await service.remember_batch(ALICE, [
        MemoryInput(text=t, valid_from=session) for t in turns])]
    # the next write continues the same conversation (same event time, same writer)
    later = await service.remember(ALICE, MemoryInput(text="Melanie: Will do!",
                                                      valid_from=session))
    res = await service.recall(ALICE, RecallQuery(query="How did Caroline's adoption "
                                                  "agency interview go?", k=3))
    assert ids[1] in [h.memory.id for h in res.hits]
    assert "keyword" in next(h for h in res.hits if h.memory.id == ids[1]).sources
    assert later.id != ids[3]


async def test_the_dense_search_leaves_empty_namespaces_out_of_its_filter(
        service: MemoryService) -> None:
    # each namespace in the vector filter costs on an exact shard: the empty ones (here
    # the team and global namespaces alice may read) are left out, nothing else changes
    held = await service.remember(ALICE, MemoryInput(text="The ferry to the island leaves at 9"))
    filters: list[tuple[str, ...]] = []
    search = service.ctx.vectors.search

    async def recorded(vector, flt, limit, *, beam=None):  # type: ignore[no-untyped-def]
        filters.append(flt.namespaces)
        return await search(vector, flt, limit, beam=beam)

    service.ctx.vectors.search = recorded  # type: ignore[method-assign]
    res = await service.recall(ALICE, RecallQuery(query="when does the island ferry leave?"))
    assert res.namespaces == ["agent:alice", "team:atlas", "global"]
    assert filters == [("agent:alice",)]
    assert [h.memory.id for h in res.hits] == [held.id] and "dense" in res.hits[0].sources
    assert (await service.recall(ALICE, RecallQuery(query="ferry", namespaces=["global"]))
            ).hits == []
    assert filters == [("agent:alice",), ("global",)]  # one namespace: searched as asked
