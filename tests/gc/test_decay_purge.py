"""Decay sweep, restore and purge on real embedded stores with a manual clock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fleetmem.memory.agents import policy_from_mapping
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, Forbidden, NotFound
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.maintenance.jobs import SYSTEM_CALLER, JobSlot
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.operator import OperatorService
from fleetmem.memory.services.service import MemoryService
from tests.conftest import ManualClock, ServiceFactory

ALICE = Caller("alice")
BOB = Caller("bob")


async def write(service: MemoryService, caller: Caller, text: str, **kw: object) -> str:
    result = await service.remember(caller, MemoryInput(text=text, **kw))  # type: ignore[arg-type]
    return str(result.id)


async def recalled(service: MemoryService, caller: Caller, query: str, k: int = 10) -> list[str]:
    result = await service.recall(caller, RecallQuery(query=query, k=k))
    await service.flush()
    return [h.memory.id for h in result.hits]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def seeded(make_service: ServiceFactory, clock: ManualClock) -> tuple[MemoryService,
                                                                             dict[str, str]]:
    """Months of simulated use: who should fade and who should stay."""
    service = await make_service(clock=clock)
    ids = {
        "episode": await write(service, ALICE, "Standup on Tuesday: Priya demoed the new "
                               "login page", kind="episode", importance=0.2),
        "weak_fact": await write(service, ALICE, "The staging database runs on port 5433",
                                 importance=0.0),
        "fact": await write(service, ALICE, "The payments service is owned by team Atlas"),
        "preference": await write(service, ALICE, "Alice prefers tabs over spaces in Go code",
                                  kind="preference", importance=0.9),
        "pinned": await write(service, ALICE, "Never deploy the ledger on a Friday evening",
                              kind="episode", importance=0.1, pinned=True),
        "used": await write(service, ALICE, "Retro notes: flaky integration tests in the "
                            "checkout pipeline were traced to a shared Redis", kind="episode",
                            importance=0.2),
        "team": await write(service, ALICE, "Atlas uses Grafana dashboards for on-call",
                            namespace="team:atlas", importance=0.3),
    }
    clock.advance(days=150)
    hits = await recalled(service, ALICE, "flaky integration tests checkout Redis", k=1)
    assert hits == [ids["used"]]  # precondition: this one is used at day 150
    clock.advance(days=50)
    return service, ids


async def test_dry_run_lists_then_run_archives_exactly_those(make_service: ServiceFactory,
                                                             clock: ManualClock) -> None:
    service, ids = await seeded(make_service, clock)
    doomed = {ids["episode"], ids["weak_fact"]}

    dry = await service.operator.gc_decay(SYSTEM_CALLER, dry_run=True)
    assert {i.id for i in dry.items} == doomed
    assert dry.archived == 2 and dry.dry_run and dry.seen >= 5
    for item in dry.items:
        assert item.action == "archive" and item.score is not None and item.score < 0.05
        assert item.age_days == pytest.approx(200, abs=0.01)
        assert "retention" in item.reason and item.namespace == "agent:alice"
    assert (await service.get(ALICE, ids["episode"])).status == "active"  # dry: untouched

    real = await service.operator.gc_decay(SYSTEM_CALLER)
    assert {i.id for i in real.items} == doomed and real.archived == 2
    for mid in ids.values():
        status = (await service.get(ALICE, mid)).status
        assert status == ("archived" if mid in doomed else "active"), mid
    assert not await service.ctx.vectors.existing(list(doomed))
    assert ids["episode"] not in await recalled(service, ALICE, "Standup Tuesday Priya login "
                                                "page demo")
    assert ids["weak_fact"] not in await recalled(service, ALICE, "staging database port")
    again = await service.operator.gc_decay(SYSTEM_CALLER)
    assert again.archived == 0  # idempotent

    events = await service.ctx.graph.audit_events(None, 0, 1000)
    archived = [e for e in events if e.operation == "gc_archive"]
    assert {t for e in archived for t in e.target_ids} == doomed
    assert all(e.agent_id == "system:gc" for e in archived)


async def test_restore_brings_one_back_and_it_stays(make_service: ServiceFactory,
                                                    clock: ManualClock) -> None:
    service, ids = await seeded(make_service, clock)
    await service.operator.gc_decay(SYSTEM_CALLER)
    view = await service.operator.gc_restore(SYSTEM_CALLER, ids["episode"])
    assert view.status == "active"
    assert ids["episode"] in await recalled(service, ALICE, "Standup Tuesday Priya login page")
    assert await service.ctx.vectors.existing([ids["episode"]]) == {ids["episode"]}
    clock.advance(days=1)
    assert (await service.operator.gc_decay(SYSTEM_CALLER)).archived == 0  # restore restarted decay
    with pytest.raises(Conflict):
        await service.operator.gc_restore(SYSTEM_CALLER, ids["fact"])
    with pytest.raises(NotFound):
        await service.operator.gc_restore(SYSTEM_CALLER, "3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10")


async def test_exempt_namespaces_and_configured_half_lives(make_service: ServiceFactory,
                                                           clock: ManualClock,
                                                           tmp_path: Path) -> None:
    service = await make_service(clock=clock, gc={
        "decay_exempt_namespaces": ["team:*"], "half_life_days": {"preference": 1}})
    pref = await write(service, ALICE, "Alice prefers dark mode in every editor",
                       kind="preference", importance=0.5)
    team = await write(service, ALICE, "Atlas retro happens every other Thursday",
                       namespace="team:atlas", kind="episode", importance=0.0)
    clock.advance(days=30)
    report = await service.operator.gc_decay(SYSTEM_CALLER, dry_run=True)
    assert [i.id for i in report.items] == [pref]
    assert team not in {i.id for i in report.items}


async def test_gc_needs_the_system_principal_or_an_admin(make_service: ServiceFactory,
                                                         clock: ManualClock) -> None:
    service = await make_service(clock=clock)
    with pytest.raises(Forbidden, match="admin"):
        await service.operator.gc_decay(ALICE, dry_run=True)
    with pytest.raises(Forbidden):
        await service.operator.gc_restore(BOB, "3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10")
    policy = policy_from_mapping({"roles": {"ops": {"allow": ["gc"]}},
                                  "agents": {"ops": {"roles": ["ops"], "admin": True}}})
    ctx = replace(service.ctx, policy=policy)
    operator = OperatorService(ctx)  # authorisation is declared on the operator's methods
    report = await operator.gc_decay(Caller("ops"), dry_run=True)
    assert report.job == "decay"
    with pytest.raises(Forbidden, match="purge"):  # the role allows gc, not purge
        await operator.gc_purge(Caller("ops"), dry_run=True)


async def test_a_slot_runs_once(make_service: ServiceFactory, clock: ManualClock) -> None:
    service, ids = await seeded(make_service, clock)
    dry = await service.operator.gc_decay(SYSTEM_CALLER, dry_run=True, slot=JobSlot("s1", "a"))
    assert dry.skipped is None  # dry runs never claim
    first = await service.operator.gc_decay(SYSTEM_CALLER, slot=JobSlot("s1", "a"))
    second = await service.operator.gc_decay(SYSTEM_CALLER, slot=JobSlot("s1", "b"))
    assert first.skipped is None and first.archived == 2
    assert second.skipped is not None and "claimed" in second.skipped
    assert (await service.operator.gc_decay(SYSTEM_CALLER, slot=JobSlot("s2", "b"))).skipped is None


async def test_purge_respects_retention_and_policy(make_service: ServiceFactory,
                                                   clock: ManualClock) -> None:
    service = await make_service(clock=clock, gc={
        "purge_namespaces": ["agent:*"], "keep_namespaces": ["agent:bob"],
        "purge_after_days": 30})
    old = await write(service, ALICE, "Temporary VPN password rotation happened in March")
    bobs = await write(service, BOB, "Bob's scratch note about the parser refactor")
    team = await write(service, ALICE, "Atlas offsite is planned in Lisbon",
                       namespace="team:atlas")
    pinned = await write(service, ALICE, "Pinned: the root CA expires in 2031", pinned=True)
    for caller, mid in ((ALICE, old), (BOB, bobs), (ALICE, team), (ALICE, pinned)):
        await service.forget(caller, mid)
    clock.advance(days=20)
    recent = await write(service, ALICE, "The old wiki moved to Confluence last week")
    await service.forget(ALICE, recent)
    clock.advance(days=20)  # old: archived 40 days; recent: 20 days

    dry = await service.operator.gc_purge(SYSTEM_CALLER, dry_run=True)
    assert [i.id for i in dry.items] == [old] and dry.purged == 1
    assert dry.kept_by_policy == 3 and dry.kept_by_retention == 1  # bob, team, pinned
    assert "purge_namespaces" in dry.items[0].reason
    assert dry.items[0].age_days == pytest.approx(40)
    await service.operator.gc_restore(SYSTEM_CALLER, recent)  # dry run purged nothing: still there
    await service.forget(ALICE, recent)

    real = await service.operator.gc_purge(SYSTEM_CALLER)
    assert [i.id for i in real.items] == [old]
    with pytest.raises(NotFound):
        await service.operator.gc_restore(SYSTEM_CALLER, old)
    for mid in (bobs, team, pinned, recent):
        assert (await service.operator.gc_restore(SYSTEM_CALLER, mid)).status == "active"
        await service.forget(ALICE if mid != bobs else BOB, mid)
    events = await service.ctx.graph.audit_events(None, 0, 1000)
    purges = [e for e in events if e.operation == "gc_purge"]
    assert [e.target_ids for e in purges] == [(old,)]
    assert purges[0].agent_id == "system:gc" and purges[0].namespace == "agent:alice"

    clock.advance(days=31)
    later = await service.operator.gc_purge(SYSTEM_CALLER)
    assert {i.id for i in later.items} == {recent}  # re-archived 31 days ago now
