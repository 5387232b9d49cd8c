"""Issue 22: on Neo4j a recall is one read transaction (its graph and entity legs, the
candidates' rows, the neighbouring turns and the session's items) and its keyword leg's
own beside it (`keyword_alone`, chosen by measurement), or just the one without it, a single
remember one read (the preceding turn, the dedup and entity lookups, the quota) and one
write (new entities, the memory with its audit, its turn link), and a batch one read per
chunk and one write per chunk and namespace. Counted at the driver
(`tests.support.bolt_count`); what the answers are is the other suites' business."""

from __future__ import annotations

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from tests.conftest import ServiceFactory
from tests.contract.test_service_on_neo4j import neo4j_graph
from tests.neo4j_fixtures import Neo4jTarget
from tests.support.bolt_count import counting

pytestmark = pytest.mark.neo4j

ALICE = Caller("alice", session_id="standup")
TURNS = ["Joanna: the payments queue backed up again last night",
         "Nate: Atlas owns payments, ask them about the queue",
         "Joanna: they moved the queue to Kafka on Friday",
         "Nate: then the backlog should clear by Monday"]


async def test_one_read_per_recall_and_one_read_and_write_per_remember(
        make_service: ServiceFactory, neo4j_clean: Neo4jTarget) -> None:
    service = await make_service(graph=neo4j_graph(neo4j_clean))
    await service.create_entities(ALICE, [EntitySpec("Atlas", "team"),
                                          EntitySpec("Payments", "service")])
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Payments", "owns")])
    await service.remember_batch(ALICE, [MemoryInput(text=t) for t in TURNS[:3]])

    with counting() as single:
        await service.remember(ALICE, MemoryInput(text=TURNS[3]))
    assert dict(single.transactions) == {"explicit": 1, "write": 1}, single

    with counting() as batch:
        await service.remember_batch(ALICE, [MemoryInput(text=f"Nate: item {i} of Atlas")
                                             for i in range(70)])  # two chunks of the model
    assert dict(batch.transactions) == {"explicit": 2, "write": 2}, batch

    store = service.ctx.graph._inner  # type: ignore[attr-defined]  # under `Timed`
    for keyword_alone in (True, False):
        store.keyword_alone = keyword_alone
        for question in ("who owns payments?", "what did Joanna say about the queue?"):
            with counting() as recall:
                result = await service.recall(ALICE, RecallQuery(query=question))
            assert result.hits
            # the batched access counts are written a second later, by another task
            assert recall.transactions["explicit"] == 1, recall
            assert recall.transactions["read"] == keyword_alone, recall
