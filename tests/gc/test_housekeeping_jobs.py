"""Buffer expiry, closing superseded facts, orphan cleanup and reconcile on real stores."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import BufferItem
from fleetmem.memory.ports import VectorPoint
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.maintenance.jobs import SYSTEM_CALLER
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.stores.sqlite.connection import ts
from tests.conftest import ManualClock, ServiceFactory

ALICE = Caller("alice")


async def hit_ids(service: MemoryService, query: str) -> list[str]:
    result = await service.recall(ALICE, RecallQuery(query=query, k=10))
    return [h.memory.id for h in result.hits]


async def test_buffers_are_consolidated_before_they_expire(make_service: ServiceFactory) -> None:
    clock = ManualClock()
    service = await make_service(clock=clock)
    kept_text = "Deploy the billing service on Fridays only after QA signs off"
    await service.buffer_append(ALICE, "s1", kept_text, importance=0.6)
    await service.buffer_append(ALICE, "s1", "ok")  # too short to promote: judged, skipped
    # an owner who may not consolidate (reader role) and one no longer configured
    for agent in ("rita", "zed"):
        await service.ctx.graph.buffer_append([BufferItem(
            id=str(uuid.uuid4()), agent_id=agent, session_id="s9", namespace=f"agent:{agent}",
            role="note", text=f"{agent} noted the cache warms up in ten minutes",
            created_at=clock.now())])
    clock.advance(hours=71)
    await service.buffer_append(Caller("bob"), "s2", "Bob is halfway through the parser work")
    clock.advance(hours=2)  # s1 and the s9 items: 73h old; bob's: 2h

    dry = await service.operator.gc_buffers(SYSTEM_CALLER, dry_run=True)
    assert dry.sessions == 3 and dry.seen == 4 and dry.consolidated == 4
    assert len(await service.buffer_read(ALICE, "s1")) == 2
    assert all(i.consolidated_into is None for i in await service.buffer_read(ALICE, "s1"))

    real = await service.operator.gc_buffers(SYSTEM_CALLER)
    assert real.consolidated == 2 and real.promoted == 1 and real.expired == 2
    assert real.blocked_sessions == 2 and len(real.errors) == 2
    assert {i.id for i in real.items} == {i.id for i in dry.items if "alice" in i.reason}
    assert await service.buffer_read(ALICE, "s1") == []
    hits = await service.recall(ALICE, RecallQuery(query="billing deploy Fridays QA"))
    promoted = [h.memory for h in hits.hits if h.memory.text == kept_text]
    assert promoted and promoted[0].kind == "episode" and "session:s1" in promoted[0].tags
    assert promoted[0].attribution.created_by == "alice"
    # refused consolidation: the items stay, unconsolidated; bob's young item stays too
    for agent in ("rita", "zed"):
        left = await service.ctx.graph.buffer_read(agent, "s9", 10)
        assert len(left) == 1 and left[0].consolidated_into is None
    assert len(await service.buffer_read(Caller("bob"), "s2")) == 1


async def test_close_superseded_repairs_unclosed_facts(make_service: ServiceFactory) -> None:
    clock = ManualClock()
    service = await make_service(clock=clock)
    first = (await service.remember(ALICE, MemoryInput(text="The API gateway runs nginx 1.24")))
    newer = await service.correct(ALICE, first.id, "The API gateway runs nginx 1.26")
    expiring = await service.remember(ALICE, MemoryInput(text="The office VPN is down for "
                                                         "maintenance this week"))
    healthy = await service.remember(ALICE, MemoryInput(text="Kafka retention is 7 days"))
    # Broken states an import or a crashed foreign writer could leave behind:
    # a predecessor still active, and a fact whose validity ended but is still active.
    end = clock.now() + timedelta(days=2)

    def corrupt(c: object) -> None:
        c.execute("UPDATE memories SET status='active', valid_to=NULL, superseded_by=NULL "  # type: ignore[attr-defined]
                  "WHERE id=?", (first.id,))
        c.execute("UPDATE memories SET valid_to=? WHERE id=?",  # type: ignore[attr-defined]
                  (ts(end), expiring.id))
    await service.ctx.graph.db.tx(corrupt)  # type: ignore[attr-defined]
    clock.advance(days=1)
    assert (await service.operator.gc_superseded(
        SYSTEM_CALLER, dry_run=True)).closed == 1  # not yet
    clock.advance(days=2)

    dry = await service.operator.gc_superseded(SYSTEM_CALLER, dry_run=True)
    assert {i.id for i in dry.items} == {first.id, expiring.id}
    reasons = {i.id: i.reason for i in dry.items}
    assert newer.id in reasons[first.id] and "validity ended" in reasons[expiring.id]
    assert (await service.get(ALICE, first.id)).status == "active"

    real = await service.operator.gc_superseded(SYSTEM_CALLER)
    assert real.closed == 2
    old = await service.get(ALICE, first.id)
    assert (old.status, old.superseded_by, old.valid_to) == ("superseded", newer.id,
                                                              newer.valid_from)
    gone = await service.get(ALICE, expiring.id)
    assert gone.status == "superseded" and gone.valid_to == end
    assert (await service.get(ALICE, healthy.id)).status == "active"
    assert first.id not in await hit_ids(service, "API gateway nginx version")
    assert (await service.operator.gc_superseded(SYSTEM_CALLER)).closed == 0


async def test_orphan_entities_go_after_the_grace_period(make_service: ServiceFactory) -> None:
    clock = ManualClock()
    service = await make_service(clock=clock, gc={"orphan_grace_days": 30})
    await service.create_entities(ALICE, [
        EntitySpec("Zeta", "service"), EntitySpec("Kappa", "service", observations=["fast"]),
        EntitySpec("Lambda", "team"), EntitySpec("Mu", "team")])
    await service.create_relations(ALICE, [RelationSpec("Lambda", "Mu", "works_with")])
    await service.create_entities(ALICE, [EntitySpec("Nu", "library")])
    await service.remember(ALICE, MemoryInput(text="Nu replaced the old JSON parser"))
    clock.advance(days=20)
    await service.create_entities(ALICE, [EntitySpec("Omicron", "service")])
    clock.advance(days=11)  # Zeta and Nu: 31 days; Omicron: 11

    dry = await service.operator.gc_orphans(SYSTEM_CALLER, dry_run=True)
    assert [i.text for i in dry.items] == ["Zeta"]
    real = await service.operator.gc_orphans(SYSTEM_CALLER)
    assert real.deleted == 1 and [i.text for i in real.items] == ["Zeta"]
    graph = await service.read_graph(ALICE, ["agent:alice"])
    # "JSON" was created from the memory's text (issue 18): mentioned, so it stays
    assert sorted(e.name for e in graph.entities) == ["JSON", "Kappa", "Lambda", "Mu", "Nu",
                                                      "Omicron"]
    events = await service.ctx.graph.audit_events(None, 0, 1000)
    assert any(e.operation == "gc_delete_orphans" and "Zeta" in e.detail for e in events)


async def test_reconcile_repairs_a_broken_vector_tier(make_service: ServiceFactory) -> None:
    service = await make_service(clock=ManualClock())
    a = await service.remember(ALICE, MemoryInput(text="Grafana alerts page the on-call SRE"))
    await service.remember(ALICE, MemoryInput(text="Terraform state lives in an S3 bucket"))
    await service.ctx.vectors.delete([a.id])  # vector missing
    stray = str(uuid.uuid4())  # vector orphaned: no memory behind it
    await service.ctx.vectors.upsert([VectorPoint(
        id=stray, vector=np.ones(service.ctx.embedder.dimension, dtype=np.float32) / 19.6,
        namespace="agent:alice", kind="fact", status="active", created_by="alice",
        created_at=0.0)])

    dry = await service.operator.gc_reconcile(SYSTEM_CALLER, dry_run=True)
    assert (dry.reindexed, dry.dropped) == (1, 1)
    assert {(i.id, i.action) for i in dry.items} == {(a.id, "reindex"), (stray, "drop")}
    assert await service.ctx.vectors.existing([a.id, stray]) == {stray}

    heard: list[tuple[str, int, int | None]] = []
    real = await service.operator.gc_reconcile(
        SYSTEM_CALLER, progress=lambda *step: heard.append(step))
    assert (real.reindexed, real.dropped) == (1, 1)
    assert heard == [("re-index", 1, 1), ("drop", 1, 1)]  # what `fleetmem gc run` shows
    assert await service.ctx.vectors.all_ids() == await service.ctx.graph.indexable_ids()
    dense = await service.recall(ALICE, RecallQuery(query="who gets paged by alerts",
                                                    modes=frozenset({"dense"})))
    assert dense.hits[0].memory.id == a.id
    assert (await service.operator.gc_reconcile(SYSTEM_CALLER)).counts()["reindexed"] == 0
