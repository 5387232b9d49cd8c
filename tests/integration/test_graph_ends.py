"""Graph writes never skip silently (issue 19): a relation to a missing entity is refused
naming it, before anything is written; `relate` does not copy an entity of another
readable namespace into the caller's. Re-run on Neo4j by tests/contract/
test_service_on_neo4j.py."""

from __future__ import annotations

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, NotFound
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.service import MemoryService

ALICE, BOB = Caller("alice"), Caller("bob")
TEAM, PRIVATE = "team:atlas", "agent:alice"


async def _graph(service: MemoryService, caller: Caller, ns: str) -> tuple[set[str], int]:
    """Entity names and relation count of one namespace."""
    page = await service.read_graph(caller, [ns], None, 500)
    return {e.name for e in page.entities}, len(page.relations)


async def _memories(service: MemoryService, caller: Caller) -> int:
    return (await service.stats(caller)).total_memories


async def test_a_relation_to_a_missing_entity_is_refused_naming_it(
        service: MemoryService) -> None:
    await service.create_entities(ALICE, [EntitySpec("Payments", "service"),
                                          EntitySpec("Ledger", "service")])
    before, memories = await _graph(service, ALICE, PRIVATE), await _memories(service, ALICE)
    with pytest.raises(NotFound) as caught:
        await service.create_relations(ALICE, [RelationSpec("Payments", "Ledger", "writes_to"),
                                               RelationSpec("Payments", "Kafka", "reads")])
    err = caught.value
    assert err.field == "relations[1].to" and err.rule == "not_found"
    assert "Kafka" in err.message and PRIVATE in err.message
    assert "create_entities" in err.message and "relate" in err.message
    # The valid first relation was not written either: all or nothing.
    assert await _graph(service, ALICE, PRIVATE) == before
    assert await _memories(service, ALICE) == memories
    with pytest.raises(NotFound) as caught:
        await service.create_relations(ALICE, [RelationSpec("Nobody", "Ledger", "owns")])
    assert caught.value.field == "relations[0].from" and "Nobody" in caught.value.message


async def test_a_current_duplicate_is_not_created_twice(service: MemoryService) -> None:
    await service.create_entities(ALICE, [EntitySpec("A", "x"), EntitySpec("B", "x")])
    first = await service.create_relations(ALICE, [RelationSpec("A", "B", "feeds")])
    assert len(first) == 1
    assert await service.create_relations(ALICE, [RelationSpec("a", "b", "feeds")]) == []
    assert (await _graph(service, ALICE, PRIVATE))[1] == 1


async def test_create_relations_across_namespaces_names_where_the_entity_is(
        service: MemoryService) -> None:
    await service.create_entities(BOB, [EntitySpec("Acme", "company")], TEAM)
    await service.create_entities(ALICE, [EntitySpec("Dana", "person")])
    with pytest.raises(NotFound) as caught:
        await service.create_relations(ALICE, [RelationSpec("Dana", "Acme", "works_at")])
    assert caught.value.field == "relations[0].to"
    assert f"Acme is an entity of {TEAM}" in caught.value.message
    assert f"namespace '{TEAM}'" in caught.value.message


async def test_relate_refuses_to_copy_a_team_entity_into_a_private_namespace(
        service: MemoryService) -> None:
    await service.create_entities(BOB, [EntitySpec("Acme", "company")], TEAM)
    before, memories = await _graph(service, ALICE, PRIVATE), await _memories(service, ALICE)
    with pytest.raises(Conflict) as caught:
        await service.relate(ALICE, "Dana", "works_at", "Acme")
    err = caught.value
    assert err.field == "to" and err.rule == "other_namespace"
    assert f"Acme is not in {PRIVATE}" in err.message and TEAM in err.message
    # Nothing was created: not the missing source, not a private copy of Acme.
    assert await _graph(service, ALICE, PRIVATE) == before
    assert await _memories(service, ALICE) == memories

    # Either way out works: relate inside the team namespace...
    done = await service.relate(ALICE, "Dana", "works_at", "Acme", namespace=TEAM)
    assert done.created and done.created_entities == ["Dana"]
    assert done.relation.namespace == TEAM
    # ...or create the private copies explicitly (Dana is a team entity now too), then
    # relate privately.
    with pytest.raises(Conflict, match="Dana is not in agent:alice"):
        await service.relate(ALICE, "Dana", "works_at", "Acme")
    await service.create_entities(ALICE, [EntitySpec("Acme", "company"),
                                          EntitySpec("Dana", "person")])
    mine = await service.relate(ALICE, "Dana", "works_at", "Acme")
    assert mine.created and mine.relation.namespace == PRIVATE
    assert mine.created_entities == []


async def test_relate_still_creates_names_no_readable_namespace_holds(
        service: MemoryService) -> None:
    # Carol's private entity is invisible to alice: no refusal, nothing revealed.
    await service.create_entities(Caller("carol"), [EntitySpec("Heliotrope", "project")])
    done = await service.relate(ALICE, "Alice", "leads", "Heliotrope")
    assert done.created and sorted(done.created_entities) == ["Alice", "Heliotrope"]
    assert done.relation.namespace == PRIVATE
