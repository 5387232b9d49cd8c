"""Per-agent usage accounting: writes, reads, refusals, embedding calls, stored bytes."""

from __future__ import annotations

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Forbidden
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.oversight.metrics import usage_families
from tests.conftest import ServiceFactory


async def test_usage_counts_per_agent(make_service: ServiceFactory) -> None:
    service = await make_service()
    alice, bob = Caller("alice"), Caller("bob")
    texts = ["Löwenbräu is the team's favourite", "Builds run on Ubuntu 24.04"]
    await service.remember_batch(alice, [MemoryInput(text=t) for t in texts])
    await service.remember(alice, MemoryInput(text=texts[0]))  # dedup: a write, no new bytes
    await service.recall(alice, RecallQuery(query="favourite beer"))
    await service.remember(bob, MemoryInput(text="Bob prefers tabs over spaces"))
    with pytest.raises(Forbidden):
        await service.forget(Caller("crawly"), "00000000-0000-4000-8000-000000000000")

    stats = await service.stats(alice)
    [mine] = stats.usage  # an agent sees only its own usage
    assert mine.agent_id == "alice"
    assert (mine.writes, mine.write_items) == (2, 3)
    assert mine.reads == 1  # the recall (stats itself is counted once it returns)
    assert mine.embed_calls == 3  # the batch, the repeat, the query
    assert mine.embedded_texts == 4
    assert mine.stored_memories == 2
    assert mine.stored_bytes == sum(len(t.encode()) for t in texts)

    everyone = {u.agent_id: u for u in (await service.stats(Caller("ops"))).usage}
    assert {"alice", "bob", "crawly"} <= set(everyone)  # an admin sees every agent
    assert everyone["crawly"].denied == 1 and everyone["crawly"].writes == 0
    assert everyone["bob"].stored_memories == 1

    report = {u.agent_id: u for u in await service.operator.usage_report()}
    assert report["alice"].stored_bytes == mine.stored_bytes
    families = {f.name: f for f in usage_families(list(report.values()), detail=True)}
    assert families["fleetmem_agent_writes"].kind == "counter"
    assert families["fleetmem_agent_stored_bytes"].kind == "gauge"
    assert ((("alice",), float(mine.stored_bytes))
            in families["fleetmem_agent_stored_bytes"].samples)
    assert (("crawly",), 1.0) in families["fleetmem_agent_denied"].samples
    total = sum(u.stored_bytes for u in report.values())
    assert families["fleetmem_usage_stored_bytes"].samples == (((), float(total)),)
    # without detail: the sums only, no family labelled by agent
    plain = usage_families(list(report.values()), detail=False)
    assert {f.name for f in plain} == {n for n in families if n.startswith("fleetmem_usage_")}
    assert all(f.labels == () for f in plain)
