"""Finding the entities a text names (SQLite term index): whole words, aliases, updates,
deletions, and entities written before the index existed."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from fleetmem.memory.bootstrap import build_graph
from fleetmem.memory.domain.models import Attribution, Entity
from fleetmem.memory.ports import EntityRef
from fleetmem.memory.settings import Settings

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _entity(name: str, aliases: tuple[str, ...] = (), ns: str = "agent:a") -> Entity:
    return Entity(id=f"id-{name}", namespace=ns, name=name, entity_type="thing",
                  attribution=Attribution("a", NOW), updated_at=NOW, aliases=aliases)


async def test_entities_in_text(tmp_path: Path) -> None:
    graph = build_graph(Settings(data_dir=tmp_path))
    await graph.open()
    try:
        await graph.create_entities([_entity("Al"), _entity("profiles-store"),
                                     _entity("Clara Fischer", ("CF",)),
                                     _entity("Zoë", ns="agent:b")])

        async def names(text: str, ns: tuple[str, ...] = ("agent:a",)) -> list[str]:
            return sorted(e.name for e in await graph.entities_in_text(ns, text, 10))

        assert await names("also the profiles-store service") == ["profiles-store"]
        assert await names("Al said CF owns profiles") == ["Al", "Clara Fischer"]
        assert await names("ask clara fischer") == ["Clara Fischer"]
        assert await names("Zoë knows") == []  # other namespace
        assert await names("Zoë knows", ("agent:b",)) == ["Zoë"]
        cf = (await graph.open_nodes(["agent:a"], ["Clara Fischer"])).entities[0]
        await graph.update_entity(dataclasses.replace(cf, aliases=("Clara F.",)))
        assert await names("CF owns it") == []
        assert await names("Clara F. owns it") == ["Clara Fischer"]
        await graph.delete_entities([EntityRef("agent:a", "Al")], NOW)
        assert await names("Al said") == []
    finally:
        await graph.close()

    with sqlite3.connect(tmp_path / "graph.sqlite3") as conn:  # as before the index existed
        conn.execute("DELETE FROM entity_terms")
    graph = build_graph(Settings(data_dir=tmp_path))
    await graph.open()
    try:
        found = await graph.entities_in_text(["agent:a"], "the profiles-store", 5)
        assert [e.name for e in found] == ["profiles-store"]
    finally:
        await graph.close()


async def test_vector_index_is_built_past_the_threshold(tmp_path: Path) -> None:
    import numpy as np

    from fleetmem.memory.ports import MemoryFilter, VectorPoint
    from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex

    index = EdgeVectorIndex(tmp_path / "v", 8, indexing_threshold_kb=1)
    rng = np.random.default_rng(1)
    points = [VectorPoint(id=f"00000000-0000-4000-8000-{i:012d}",
                          vector=rng.standard_normal(8).astype(np.float32), namespace="agent:a",
                          kind="fact", status="active", created_by="a", created_at=0.0)
              for i in range(300)]
    await index.upsert(points)
    assert await index.build_index(1000) == 0  # below the threshold: nothing to do
    assert await index.build_index(100) == 300
    assert await index.build_index(100) == 0  # all indexed now
    hits = await index.search(points[7].vector, MemoryFilter(namespaces=("agent:a",)), 1)
    assert hits[0][0] == points[7].id
    await index.close()
