"""Issue 18, Deliver 3 on real stores (SQLite, and Neo4j where marked): the turns of one
conversation keep their order, each turn's keyword context holds the turn before and the
turn after it (the later one appended when it is written), and recall brings the turns
next to its best candidates, counted against `k` like any hit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from tests.conftest import ServiceFactory
from tests.contract.conftest import GRAPH_BACKENDS
from tests.integration.test_text_entities import _service

CHAT = Caller("alice", session_id="chat-1")
NS = "team:atlas"
TALK = ["Melanie: How did the meeting with the adoption agency go on Friday?",
        "Caroline: It went great, they said yes!",
        "Melanie: I am so happy for you.",
        "Caroline: Thanks! I also started pottery classes at the community centre."]
FILLER = ["The payments service runs on three nodes in the Frankfurt region.",
          "Lunch on Thursdays is at the noodle place across the street.",
          "The quarterly planning meeting moved to the large room upstairs.",
          "Our staging database is refreshed from production every Sunday night."]


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_a_conversation_keeps_its_order_and_indexes_the_next_turn(
        backend: str, make_service: ServiceFactory, request: pytest.FixtureRequest) -> None:
    service = await _service(backend, make_service, request)
    await service.remember_batch(Caller("bob"), [MemoryInput(text=t, namespace=NS)
                                                 for t in FILLER])
    # the first two turns in one call, the rest in a second call of the same session
    first = await service.remember_batch(CHAT, [MemoryInput(text=t, namespace=NS)
                                                for t in TALK[:2]])
    rest = await service.remember_batch(CHAT, [MemoryInput(text=t, namespace=NS)
                                               for t in TALK[2:]])
    ids = [r.id for r in [*first, *rest]]
    store = service.ctx.memories  # the order the store kept
    prior = await store.preceding_turn(NS, "alice", "chat-1")
    assert prior is not None and (prior.id, prior.seq) == (ids[3], 3)
    near = await store.turn_neighbours(ids, [NS])
    assert near[ids[0]] == (ids[1],) and near[ids[1]] == (ids[0], ids[2])
    assert near[ids[2]] == (ids[1], ids[3]) and near[ids[3]] == (ids[2],)
    # unrelated facts written one after another are no conversation
    filler = await store.turn_neighbours(
        [h.memory.id for h in (await service.recall(Caller("bob"), RecallQuery(
            query="payments nodes Frankfurt", k=2, namespaces=[NS], neighbours=False))).hits],
        [NS])
    assert filler == {}

    # the reply's words find the question before it, across the two calls too
    found = await service.recall(CHAT, RecallQuery(query="went great said yes", k=4,
                                                   namespaces=[NS], modes=frozenset({
                                                       "keyword"}), neighbours=False))
    assert ids[0] in {h.memory.id for h in found.hits}
    found = await service.recall(CHAT, RecallQuery(query="pottery classes community", k=4,
                                                   namespaces=[NS], modes=frozenset({
                                                       "keyword"}), neighbours=False))
    assert ids[2] in {h.memory.id for h in found.hits}


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_recall_brings_the_turns_next_to_its_best_hits_counted_against_k(
        backend: str, make_service: ServiceFactory, request: pytest.FixtureRequest) -> None:
    service = await _service(backend, make_service, request)
    when = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    # an imported conversation: no session, every turn with its session's event time
    res = await service.remember_batch(Caller("alice"), [
        MemoryInput(text=t, namespace=NS, valid_from=when) for t in [*TALK, *FILLER[:2]]])
    ids = [r.id for r in res]
    query = "How did the adoption agency meeting go?"
    on = await service.recall(CHAT, RecallQuery(query=query, k=3, namespaces=[NS]))
    by_id = {h.memory.id: h for h in on.hits}
    assert len(on.hits) == 3
    assert ids[1] in by_id and "neighbour" in by_id[ids[1]].sources
    assert by_id[ids[1]].why["neighbour"] > 0
    off = await service.recall(CHAT, RecallQuery(query=query, k=3, namespaces=[NS],
                                                 neighbours=False))
    assert all("neighbour" not in h.sources and "neighbour" not in h.why for h in off.hits)
    # counted against k and max_tokens like any hit
    one = await service.recall(CHAT, RecallQuery(query=query, k=1, namespaces=[NS]))
    assert len(one.hits) == 1
    budget = await service.recall(CHAT, RecallQuery(query=query, k=5, namespaces=[NS],
                                                    max_tokens=20))
    assert budget.tokens <= 20 or len(budget.hits) == 1
    # a neighbour outside the filter is never returned
    forgotten = await service.forget(Caller("alice"), ids[1])
    assert forgotten
    again = await service.recall(CHAT, RecallQuery(query=query, k=5, namespaces=[NS]))
    assert ids[1] not in {h.memory.id for h in again.hits}
