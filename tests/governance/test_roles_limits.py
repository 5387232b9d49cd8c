"""Roles, rate limits and quotas through the service on real embedded stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Forbidden, RateLimited
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from tests.conftest import ManualClock, ServiceFactory


async def _events(service: MemoryService) -> list[object]:
    await service.flush()
    return list(await service.ctx.graph.audit_events(None, 0, 10_000))


async def test_reader_may_recall_but_not_remember_and_the_denial_is_audited(
        make_service: ServiceFactory) -> None:
    service = await make_service()
    alice, rita = Caller("alice"), Caller("rita", workflow_id="wf-deny")
    await service.remember(alice, MemoryInput(text="Atlas deploys on Tuesdays",
                                              namespace="team:atlas"))
    found = await service.recall(rita, RecallQuery(query="when does Atlas deploy?"))
    assert found.hits and found.hits[0].memory.text == "Atlas deploys on Tuesdays"

    with pytest.raises(Forbidden) as denied:
        await service.remember(rita, MemoryInput(text="rita was here", namespace="team:atlas"))
    assert denied.value.rule == "role"
    assert "no role of this agent (reader) allows 'remember'" in denied.value.message

    events = await _events(service)
    refusal = [e for e in events if e.outcome == "denied"]  # type: ignore[attr-defined]
    assert len(refusal) == 1
    e = refusal[0]
    assert (e.agent_id, e.operation, e.namespace, e.workflow_id) == (  # type: ignore[attr-defined]
        "rita", "remember", "team:atlas", "wf-deny")
    assert "role: operation 'remember' refused" in e.detail  # type: ignore[attr-defined]
    assert await service.operator.verify_audit() is None


async def test_deny_list_wins_over_allow_star(make_service: ServiceFactory) -> None:
    service = await make_service()
    crawly = Caller("crawly")
    written = await service.remember(crawly, MemoryInput(text="Crawled: the docs moved to v2"))
    with pytest.raises(Forbidden) as denied:
        await service.forget(crawly, written.id)
    assert "role 'crawler' denies 'forget'" in denied.value.message
    assert (await service.get(crawly, written.id)).status == "active"
    events = await _events(service)
    assert [(e.operation, e.target_ids) for e in events  # type: ignore[attr-defined]
            if e.outcome == "denied"] == [("forget", (written.id,))]


async def test_namespace_write_refusal_is_audited_with_its_rule(
        make_service: ServiceFactory) -> None:
    service = await make_service()
    with pytest.raises(Forbidden):
        await service.remember(Caller("carol"), MemoryInput(text="x" * 20,
                                                            namespace="team:atlas"))
    events = await _events(service)
    (e,) = [e for e in events if e.outcome == "denied"]  # type: ignore[attr-defined]
    assert e.detail.startswith("namespace_write:")  # type: ignore[attr-defined]


async def test_requests_per_minute_hits_and_recovers(make_service: ServiceFactory) -> None:
    clock = ManualClock()
    service = await make_service(clock=clock)
    speedy = Caller("speedy")
    for _ in range(3):  # the bucket holds a minute's worth: 3 requests
        await service.list_namespaces(speedy)
    with pytest.raises(RateLimited) as limited:
        await service.list_namespaces(speedy)
    assert limited.value.retry_after == 20.0  # one token per 60/3 s
    assert "3 requests per minute" in limited.value.message
    assert "retry after 20 s" in limited.value.message
    assert limited.value.to_dict()["retry_after"] == 20.0
    await service.list_namespaces(Caller("alice"))  # other agents are not affected

    clock.advance(seconds=19)
    with pytest.raises(RateLimited):
        await service.list_namespaces(speedy)
    clock.advance(seconds=1)
    await service.list_namespaces(speedy)  # recovered
    events = await _events(service)
    assert [e.operation for e in events  # type: ignore[attr-defined]
            if e.outcome == "rate_limited"] == ["list_namespaces", "list_namespaces"]


async def test_writes_per_day_resets_at_utc_midnight(make_service: ServiceFactory) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    service = await make_service(clock=clock)
    meter = Caller("meter")
    await service.remember(meter, MemoryInput(text="first metered memory"))
    await service.recall(meter, RecallQuery(query="metered"))  # reads are not writes
    await service.remember(meter, MemoryInput(text="second metered memory"))
    with pytest.raises(RateLimited) as limited:
        await service.remember(meter, MemoryInput(text="third metered memory"))
    assert limited.value.rule == "writes_per_day"
    assert limited.value.retry_after == 3600.0
    assert "2026-03-02T00:00:00Z" in limited.value.message
    with pytest.raises(RateLimited, match="split it"):
        await service.remember_batch(meter, [MemoryInput(text=f"batch item {i}")
                                             for i in range(3)])
    clock.advance(hours=1)
    await service.remember(meter, MemoryInput(text="third metered memory"))


async def test_memories_per_namespace_quota(make_service: ServiceFactory) -> None:
    service = await make_service()
    boxy = Caller("boxy")
    await service.remember(boxy, MemoryInput(text="The cache TTL is five minutes"))
    first = await service.remember(boxy, MemoryInput(text="Deploys need two approvals"))
    again = await service.remember(boxy, MemoryInput(text="Deploys need two approvals"))
    assert again.deduplicated  # a duplicate stores nothing, so it is not refused
    with pytest.raises(RateLimited) as full:
        await service.remember(boxy, MemoryInput(text="Backups run nightly at 02:00"))
    assert full.value.rule == "memories_per_namespace"
    assert "agent:boxy" in full.value.message
    await service.forget(boxy, first.id)  # only active memories count
    await service.remember(boxy, MemoryInput(text="Backups run nightly at 02:00"))


async def test_unknown_agent_is_refused_and_audited_but_not_tracked(
        make_service: ServiceFactory) -> None:
    service = await make_service()
    with pytest.raises(Forbidden) as denied:
        await service.recall(Caller("mallory"), RecallQuery(query="anything"))
    assert denied.value.rule == "unknown_agent"
    events = await _events(service)
    assert [(e.agent_id, e.outcome) for e in events] == [  # type: ignore[attr-defined]
        ("mallory", "denied")]
    assert "mallory" not in {u.agent_id for u in await service.operator.usage_report()}
