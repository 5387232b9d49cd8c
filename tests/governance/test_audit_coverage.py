"""Every write and every read that returns results leaves an audit entry carrying the
caller's agent, on_behalf_of and workflow id."""

from __future__ import annotations

from pathlib import Path

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import AuditEvent
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from tests.conftest import ServiceFactory


async def _since(service: MemoryService, seq: int) -> list[AuditEvent]:
    await service.flush()
    return await service.ctx.graph.audit_events(None, seq, 10_000)


async def _last_seq(service: MemoryService) -> int:
    await service.flush()
    last = await service.ctx.graph.last_audit()
    return 0 if last is None else last.seq


async def test_workflow_id_is_on_every_entry_of_a_request(make_service: ServiceFactory) -> None:
    service = await make_service()
    alice = Caller("alice", on_behalf_of="human:dana", workflow_id="wf-42")
    before = await _last_seq(service)
    # one request that writes entities, observation memories and relations
    await service.relate(alice, "Payments", "owned_by", "Atlas", namespace="team:atlas")
    events = await _since(service, before)
    assert len(events) >= 2  # the entities, the relation's memory
    before = await _last_seq(service)
    await service.create_entities(alice, [EntitySpec("Ledger", "service",
                                                     observations=["Written in Go"])])
    events += await _since(service, before)
    assert len(events) >= 4  # + the observation's memory and the entity
    assert {(e.agent_id, e.on_behalf_of, e.workflow_id) for e in events} == {
        ("alice", "human:dana", "wf-42")}


async def test_every_write_and_read_with_results_is_audited(
        make_service: ServiceFactory) -> None:
    service = await make_service()
    alice = Caller("alice", on_behalf_of="human:dana", workflow_id="wf-7", session_id="s1")
    ns = "team:atlas"

    async def audited(call: object, operation: str, *, targets: list[str] | None = None,
                      namespace: str | None = None) -> None:
        before = await _last_seq(service)
        await call  # type: ignore[misc]
        events = [e for e in await _since(service, before) if e.operation == operation]
        assert events, f"{operation} left no audit entry"
        for e in events:
            assert (e.agent_id, e.on_behalf_of, e.workflow_id) == ("alice", "human:dana", "wf-7")
            assert e.outcome == "ok"
        if targets is not None:
            assert set(targets) <= {t for e in events for t in e.target_ids}
        if namespace is not None:
            assert {e.namespace for e in events} == {namespace}

    written = await service.remember(alice, MemoryInput(text="Atlas owns the payments API",
                                                        namespace=ns))
    await audited(service.remember(alice, MemoryInput(text="Atlas owns the payments API",
                                                      namespace=ns)),
                  "remember", targets=[written.id], namespace=ns)  # a dedup is audited too
    await audited(service.get(alice, written.id), "get", targets=[written.id], namespace=ns)
    await audited(service.history(alice, written.id), "history", targets=[written.id])
    await audited(service.recall(alice, RecallQuery(query="payments API")), "recall",
                  targets=[written.id])
    await audited(service.create_entities(alice, [EntitySpec("Atlas", "team"),
                                                  EntitySpec("Payments", "service")], ns),
                  "create_entities", namespace=ns)
    await audited(service.add_observations(alice, [("Atlas", ["Based in Berlin"])], ns),
                  "add_observations", namespace=ns)
    await audited(service.create_relations(alice, [RelationSpec("Atlas", "Payments", "owns")],
                                           ns), "create_relations", namespace=ns)
    await audited(service.create_relations(alice, [RelationSpec("Atlas", "Payments", "owns")],
                                           ns), "create_relations", namespace=ns)  # no-op
    graph = await service.open_nodes(alice, ["Atlas"], [ns])
    atlas_id = graph.entities[0].id
    await audited(service.open_nodes(alice, ["Atlas"], [ns]), "open_nodes",
                  targets=[atlas_id])
    await audited(service.search_nodes(alice, "Berlin"), "search_nodes", targets=[atlas_id])
    await audited(service.read_graph(alice, [ns]), "read_graph", targets=[])  # count only
    await audited(service.neighbours(alice, "Atlas"), "open_nodes", targets=[atlas_id])
    item = await service.buffer_append(alice, "s1", "we decided to ship on Friday afternoon")
    await audited(service.buffer_append(alice, "s1", "ok"), "buffer_append",
                  namespace="agent:alice")
    await audited(service.buffer_read(alice, "s1"), "buffer_read", targets=[item.id])
    await audited(service.consolidate(alice, "s1"), "consolidate")
    await audited(service.consolidate(alice, "s1"), "consolidate")  # nothing left: still audited
    await audited(service.buffer_clear(alice, "s1"), "buffer_clear")
    shared = await service.remember(alice, MemoryInput(text="Friday releases need a freeze"))
    await audited(service.share(alice, shared.id, ns), "share", namespace=ns)
    await audited(service.forget(alice, shared.id), "forget", targets=[shared.id])
    await audited(service.restore(alice, shared.id), "restore", targets=[shared.id])
    await audited(service.correct(alice, shared.id, "Friday releases need a code freeze"),
                  "correct", targets=[shared.id])
    await audited(service.delete_observations(alice, [("Atlas", ["Based in Berlin"])], ns),
                  "delete_observations", namespace=ns)
    await audited(service.delete_relations(alice, [RelationSpec("Atlas", "Payments", "owns")],
                                           ns), "delete_relations", namespace=ns)
    await audited(service.delete_entities(alice, ["Payments"], ns), "delete_entities",
                  namespace=ns)
    assert await service.operator.verify_audit() is None


async def test_reads_without_results_add_nothing(make_service: ServiceFactory) -> None:
    service = await make_service()
    alice = Caller("alice")
    before = await _last_seq(service)
    await service.recall(alice, RecallQuery(query="nothing stored yet"))
    await service.search_nodes(alice, "nobody")
    await service.stats(alice)
    assert await _since(service, before) == []


async def test_bulk_reads_record_a_count_unless_ids_are_asked_for(
        make_service: ServiceFactory, tmp_path: Path) -> None:
    for list_ids in (False, True):
        service = await make_service(data_dir=tmp_path / f"bulk-{list_ids}",
                                     governance={"audit_bulk_read_ids": list_ids})
        alice = Caller("alice")
        made = await service.create_entities(alice, [EntitySpec(f"E{i}", "thing")
                                                     for i in range(3)])
        before = await _last_seq(service)
        await service.read_graph(alice)
        (event,) = await _since(service, before)
        assert event.operation == "read_graph"
        if list_ids:
            assert set(event.target_ids) == {e.id for e in made}
        else:
            assert event.target_ids == () and event.detail == "returned 3 records"
        await service.close()
