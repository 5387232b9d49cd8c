from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService


async def test_remember_recall_roundtrip(service: MemoryService) -> None:
    alice = Caller("alice", on_behalf_of="human:dana", workflow_id="wf-1")
    text = "The payments service is owned by team Atlas"
    r = await service.remember(alice, MemoryInput(text=text))
    res = await service.recall(alice, RecallQuery(query="who owns payments?"))
    assert res.hits[0].memory.id == r.id
    a = res.hits[0].memory.attribution
    assert (a.created_by, a.on_behalf_of, a.workflow_id) == ("alice", "human:dana", "wf-1")
