"""The SQLite statements of the hot paths (remember, recall, get) must not walk a whole
namespace. Without statistics SQLite's planner preferred the (namespace, status,
commit_state) index for lookups by id or by content hash, which scanned every memory of
the namespace per call: recall and ingest slowed linearly with the store (29 ms per dedup
check at 35k memories). This test replays each statement the hot paths ran under
EXPLAIN QUERY PLAN on a store large enough for that to matter."""

from __future__ import annotations

import sqlite3

import numpy as np

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Attribution, Memory, MemoryKind
from fleetmem.memory.domain.text import content_hash, new_id
from fleetmem.memory.services.graph.entities import EntitySpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.conftest import ServiceFactory

NAMESPACE = "agent:carol"
FILLER = 1_500


async def test_hot_path_statements_use_keys_not_namespace_scans(
        make_service: ServiceFactory) -> None:
    service = await make_service()
    graph = service.ctx.graph
    store = getattr(graph, "_inner", graph)  # the timing proxy wraps the store
    assert isinstance(store, SqliteGraphStore)
    rng = np.random.default_rng(3)
    now = service.ctx.now()
    filler = [Memory(id=new_id(), namespace=NAMESPACE, text=f"filler note {i} about service "
                     f"s{i % 40} and its deploy window", kind=MemoryKind.FACT, importance=0.5,
                     tags=(), attribution=Attribution(created_by="carol", created_at=now),
                     updated_at=now, valid_from=now,
                     content_hash=content_hash(NAMESPACE, f"filler {i}")) for i in range(FILLER)]
    vectors = rng.normal(size=(FILLER, service.ctx.embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    await graph.insert_memories(filler, list(vectors))
    await graph.mark_committed([m.id for m in filler], [])

    seen: list[str] = []
    await store.db.trace(seen.append)
    caller = Caller("carol")
    written = await service.remember(caller, MemoryInput(text="The deploy window of s7 is "
                                                              "Tuesday 14:00 UTC"))
    await service.remember(caller, MemoryInput(text="The deploy window of s7 is "
                                                     "Tuesday 14:00 UTC"))  # dedup by hash
    await service.recall(caller, RecallQuery(query="when can s7 deploy?", k=10))
    # a question naming an entity: the graph leg's mention lookups (1.2 s at 1M when
    # they walked the namespace)
    await service.create_entities(caller, [EntitySpec("Mateo Okafor", "person")])
    await service.remember(caller, MemoryInput(text="Mateo Okafor moved the s7 deploy "
                                                     "window to Thursday"))
    await service.recall(caller, RecallQuery(query="what did Mateo Okafor change?", k=10))
    await service.get(caller, written.id)
    await store.db.trace(None)

    statements = [s for s in dict.fromkeys(seen)
                  if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH"))]
    assert len(statements) >= 6, statements

    def plans(c: sqlite3.Connection) -> dict[str, list[str]]:
        return {s: [str(r[3]) for r in c.execute(f"EXPLAIN QUERY PLAN {s}")]
                for s in statements}

    bad = {s: steps for s, steps in (await store.db.run(plans)).items()
           if any("memories_ns_status" in step or step.startswith("SCAN memories ")
                  or step == "SCAN memories" for step in steps)}
    assert not bad, "statements that walk a namespace:\n" + "\n".join(
        f"{steps}: {s[:300]}" for s, steps in bad.items())
