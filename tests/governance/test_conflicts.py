"""Contradictions between agents: both facts kept, one open conflict, recall marks both
hits disputed, resolution records who chose what."""

from __future__ import annotations

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, Forbidden, InvalidInput, NotFound
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from tests.conftest import ServiceFactory

NS = "team:atlas"
ALICE, BOB = Caller("alice", workflow_id="wf-a"), Caller("bob", workflow_id="wf-b")


async def _team_graph(service: MemoryService) -> None:
    await service.create_entities(ALICE, [EntitySpec("Atlas", "team"),
                                          EntitySpec("Dana", "person"),
                                          EntitySpec("Erin", "person"),
                                          EntitySpec("Payments", "service")], NS)


async def _hits(service: MemoryService, query: str) -> dict[str, bool]:
    res = await service.recall(ALICE, RecallQuery(query=query, k=10, namespaces=[NS]))
    return {h.memory.text: h.disputed for h in res.hits}


async def test_one_valued_relation_contradiction_opens_one_conflict(
        make_service: ServiceFactory) -> None:
    service = await make_service(governance={"one_valued_relations": ["led_by"]})
    await _team_graph(service)
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Dana", "led_by")], NS)
    await service.create_relations(BOB, [RelationSpec("Atlas", "Erin", "led_by")], NS)
    await service.create_relations(BOB, [RelationSpec("Atlas", "Erin", "led_by")], NS)  # again

    (conflict,) = await service.conflicts_list(ALICE)
    assert (conflict.kind, conflict.subject, conflict.attribute) == ("relation", "Atlas",
                                                                     "led_by")
    assert (conflict.a.agent_id, conflict.a.value) == ("alice", "Dana")
    assert (conflict.b.agent_id, conflict.b.value) == ("bob", "Erin")
    assert conflict.workflow_id == "wf-b" and conflict.status == "open"
    assert conflict.a.memory_id and conflict.b.memory_id
    assert conflict.a.memory_id != conflict.b.memory_id

    graph = await service.open_nodes(ALICE, ["Atlas", "Dana", "Erin"], [NS])
    assert sorted(r.to for r in graph.relations if r.relationType == "led_by") == [
        "Dana", "Erin"]  # both kept
    hits = await _hits(service, "Who is Atlas led by?")
    assert hits["Atlas led by Dana"] is True
    assert hits["Atlas led by Erin"] is True
    await service.remember(ALICE, _input("Atlas ships the payments API every Tuesday"))
    assert (await _hits(service, "Atlas payments API"))[
        "Atlas ships the payments API every Tuesday"] is False

    events = await service.audit_query(ALICE, operation="conflict_open")
    assert len(events) == 1 and events[0].agent_id == "bob"
    assert conflict.id in events[0].target_ids


async def test_resolution_records_who_chose_what_and_retires_the_loser(
        make_service: ServiceFactory) -> None:
    service = await make_service(governance={"one_valued_relations": ["led_by"]})
    await _team_graph(service)
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Dana", "led_by")], NS)
    await service.create_relations(BOB, [RelationSpec("Atlas", "Erin", "led_by")], NS)
    (conflict,) = await service.conflicts_list(BOB)

    with pytest.raises(NotFound):  # carol cannot read team:atlas
        await service.conflicts_resolve(Caller("carol"), conflict.id, "a")
    with pytest.raises(Forbidden):  # rita's reader role does not allow it
        await service.conflicts_resolve(Caller("rita"), conflict.id, "a")
    with pytest.raises(InvalidInput):
        await service.conflicts_resolve(ALICE, conflict.id, "neither")

    dana = Caller("human:dana", workflow_id="wf-review")
    done = await service.conflicts_resolve(dana, conflict.id, "b", note="Erin took over in May")
    assert done.status == "resolved" and done.resolution is not None
    r = done.resolution
    assert (r.keep, r.resolved_by, r.workflow_id, r.note) == (
        "b", "human:dana", "wf-review", "Erin took over in May")
    with pytest.raises(Conflict, match="already resolved by human:dana"):
        await service.conflicts_resolve(ALICE, conflict.id, "a")

    assert await service.conflicts_list(ALICE) == []
    (stored,) = await service.conflicts_list(ALICE, status="resolved")
    assert stored.resolution == done.resolution
    graph = await service.open_nodes(ALICE, ["Atlas", "Erin"], [NS])
    assert [r.to for r in graph.relations if r.relationType == "led_by"] == ["Erin"]
    hits = await _hits(service, "Who is Atlas led by?")
    assert hits.get("Atlas led by Erin") is False
    assert "Atlas led by Dana" not in hits  # archived, restorable
    assert (await service.get(ALICE, conflict.a.memory_id or "")).status == "archived"
    (event,) = await service.audit_query(ALICE, operation="conflicts_resolve")
    assert event.agent_id == "human:dana" and event.workflow_id == "wf-review"
    assert "kept b" in event.detail and "Erin" in event.detail
    assert await service.operator.verify_audit() is None


async def test_keeping_both_closes_the_conflict_and_keeps_both_facts(
        make_service: ServiceFactory) -> None:
    service = await make_service(governance={"one_valued_relations": ["led_by"]})
    await _team_graph(service)
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Dana", "led_by")], NS)
    await service.create_relations(BOB, [RelationSpec("Atlas", "Erin", "led_by")], NS)
    (conflict,) = await service.conflicts_list(BOB)
    await service.conflicts_resolve(ALICE, conflict.id, "both", note="co-leads")
    hits = await _hits(service, "Who is Atlas led by?")
    assert hits["Atlas led by Dana"] is False and hits["Atlas led by Erin"] is False


async def test_no_conflict_for_own_updates_or_many_valued_relations(
        make_service: ServiceFactory) -> None:
    service = await make_service(governance={"one_valued_relations": ["led_by"]})
    await _team_graph(service)
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Dana", "led_by")], NS)
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Erin", "led_by")], NS)
    graph = await service.open_nodes(ALICE, ["Atlas", "Dana", "Erin"], [NS])
    assert [r.to for r in graph.relations if r.relationType == "led_by"] == ["Erin"]
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Payments", "owns")], NS)
    await service.create_relations(BOB, [RelationSpec("Atlas", "Dana", "owns")], NS)
    assert await service.conflicts_list(ALICE, status=None) == []


async def test_attribute_contradiction_between_agents(make_service: ServiceFactory) -> None:
    service = await make_service()
    await _team_graph(service)
    await service.add_observations(ALICE, [("Payments", ["owner: Atlas", "tier: 1"])], NS)
    await service.add_observations(ALICE, [("Payments", ["tier: 2"])], NS)  # own update
    await service.add_observations(BOB, [("Payments", ["Owner = atlas"])], NS)  # same value
    await service.add_observations(BOB, [("Payments", ["Note: owner is busy",
                                                       "owner: Borealis"])], NS)
    (conflict,) = await service.conflicts_list(BOB)
    assert (conflict.kind, conflict.subject, conflict.attribute) == ("attribute", "Payments",
                                                                     "owner")
    assert (conflict.a.value, conflict.a.agent_id) == ("Atlas", "alice")
    assert (conflict.b.value, conflict.b.agent_id) == ("Borealis", "bob")
    hits = await _hits(service, "Who is the owner of Payments?")
    assert hits["Payments: owner: Atlas"] is True
    assert hits["Payments: owner: Borealis"] is True

    await service.conflicts_resolve(ALICE, conflict.id, "a")
    graph = await service.open_nodes(ALICE, ["Payments"], [NS])
    observations = graph.entities[0].observations
    assert "owner: Atlas" in observations and "owner: Borealis" not in observations


def _input(text: str) -> MemoryInput:
    return MemoryInput(text=text, namespace=NS)
