"""`fleetmem migrate --from-data-dir`: an embedded store copied into a real Neo4j keeps
ids, attribution, timestamps, history, relations (closed ones too), buffers, conflicts,
the audit chain and vectors, verified by counts; a service on the copy answers alike."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetmem.cli.main import app
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.maintenance.migrate import migrate
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import GraphSettings
from fleetmem.memory.stores.neo4j.graph_store import Neo4jGraphStore
from fleetmem.memory.stores.qdrant.server_index import QdrantServerVectorIndex
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.conftest import ManualClock, ServiceFactory
from tests.neo4j_fixtures import Neo4jTarget

pytestmark = pytest.mark.neo4j
ALICE = Caller("alice", on_behalf_of="human:dana", workflow_id="wf-m", session_id="s1")
BOB = Caller("bob", workflow_id="wf-b")
TEAM = "team:atlas"


async def populate(service: MemoryService, clock: ManualClock) -> dict[str, str]:
    """A bit of everything an embedded store holds."""
    ids: dict[str, str] = {}
    await service.create_entities(ALICE, [EntitySpec("Atlas", "team", ["owns payments"]),
                                          EntitySpec("Dana", "person"),
                                          EntitySpec("Acme", "company"),
                                          EntitySpec("Globex", "company")], TEAM)
    await service.create_relations(ALICE, [RelationSpec("Dana", "Acme", "works_at")], TEAM)
    clock.advance(hours=1)
    await service.create_relations(BOB, [RelationSpec("Dana", "Globex", "works_at")], TEAM)
    clock.advance(hours=1)
    await service.create_relations(ALICE, [RelationSpec("Dana", "Acme", "advises")], TEAM,
                                   one_valued=True)
    ids["gateway"] = (await service.remember(ALICE, MemoryInput(
        text="The API gateway runs on port 8080", tags=["infra"], importance=0.9))).id
    clock.advance(days=1)
    ids["gateway2"] = (await service.correct(ALICE, ids["gateway"],
                                             "The API gateway runs on port 9090")).id
    ids["old"] = (await service.remember(ALICE, MemoryInput(text="The legacy cron job runs "
                                                                 "hourly on the billing box"))).id
    await service.forget(ALICE, ids["old"])
    ids["team"] = (await service.remember(BOB, MemoryInput(
        text="Atlas deploys payments every Tuesday", namespace=TEAM))).id
    await service.buffer_append(ALICE, "s1", "we talked about the gateway port")
    await service.recall(ALICE, RecallQuery(query="gateway port"))
    await service.flush()
    return ids


async def snapshot(service: MemoryService, ids: dict[str, str]) -> dict[str, object]:
    """What a client sees, to compare before and after the migration."""
    def view(memory: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in memory.items() if k not in ("access_count", "last_accessed_at")}

    return {
        "get": [view((await service.get(ALICE, i)).model_dump()) for i in ids.values()],
        "history": [m.id for m in await service.history(ALICE, ids["gateway2"])],
        "graph": (await service.read_graph(ALICE, [TEAM])).model_dump(),
        "recall": [h.memory.id for h in (await service.recall(
            ALICE, RecallQuery(query="what port does the API gateway use", k=3))).hits],
        "conflicts": [c.model_dump() for c in await service.conflicts_list(ALICE)],
        "buffer": [b.model_dump() for b in await service.buffer_read(ALICE, "s1")],
        "stats": (await service.stats(ALICE)).model_dump(),
    }


async def test_migrate_cli_copies_sqlite_into_neo4j(
        make_service: ServiceFactory, neo4j_clean: Neo4jTarget, tmp_path: Path) -> None:
    clock = ManualClock()
    governance = {"one_valued_relations": ["works_at"]}
    source = await make_service(data_dir=tmp_path / "src", clock=clock, governance=governance)
    ids = await populate(service=source, clock=clock)
    assert await source.conflicts_list(ALICE)
    before = await snapshot(source, ids)
    await source.flush()
    head = await source.ctx.graph.last_audit()
    namespaces = await source.ctx.graph.all_namespaces()
    stored = await source.ctx.graph.get_memories(list(ids.values()), namespaces)
    await source.close()

    env = {"FLEETMEM_GRAPH__BACKEND": "neo4j", "FLEETMEM_GRAPH__NEO4J_URI": neo4j_clean.uri,
           "FLEETMEM_DATA_DIR": str(tmp_path / "dst"), "FLEETMEM_VECTOR__BACKEND": "edge"}
    result = await asyncio.to_thread(CliRunner().invoke, app, [
        "migrate", "--from-data-dir", str(tmp_path / "src"), "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verified"] and report["mismatches"] == []
    assert report["relations"] == 3 and report["memories"] >= 6 and report["conflicts"] == 1

    again = await asyncio.to_thread(CliRunner().invoke, app, [
        "migrate", "--from-data-dir", str(tmp_path / "src")], env=env)
    assert again.exit_code == 2 and "already holds data" in again.output

    clock.advance(minutes=1)
    copy = await make_service(data_dir=tmp_path / "dst", clock=clock, governance=governance,
                              graph=GraphSettings(backend="neo4j", neo4j_uri=neo4j_clean.uri))
    assert await copy.ctx.graph.last_audit() == head
    assert await copy.ctx.graph.get_memories(list(ids.values()), namespaces) == stored
    after = await snapshot(copy, ids)
    for key in ("get", "history", "graph", "conflicts", "buffer", "recall"):
        assert after[key] == before[key], key
    assert await copy.operator.verify_audit() is None
    assert (await copy.ctx.vectors.count()) == await copy.ctx.graph.count_indexable()


async def test_migrate_into_neo4j_and_the_qdrant_server_adapter(
        make_service: ServiceFactory, neo4j_clean: Neo4jTarget, tmp_path: Path,
        embedder: Embedder) -> None:
    clock = ManualClock()
    source = await make_service(data_dir=tmp_path / "src", clock=clock)
    await populate(service=source, clock=clock)
    await source.close()
    src = SqliteGraphStore(tmp_path / "src" / "graph.sqlite3")
    dst = Neo4jGraphStore(neo4j_clean.uri)
    vectors = QdrantServerVectorIndex(":memory:", "fleetmem_memories", embedder.dimension)
    await src.open()
    await dst.open()
    try:
        heard: dict[str, tuple[int, int | None]] = {}
        report = await migrate(src, dst, vectors,
                               progress=lambda stage, done, total: heard.update(
                                   {stage: (done, total)}))
        assert report.verified, report.mismatches
        assert report.vectors == await vectors.count() == await src.count_indexable()
        assert report.reembedded == 0
        # the last step of each stage, as `fleetmem migrate`'s bars show it
        assert heard["memories"] == (report.memories, report.memories)
        assert heard["entities"] == (report.entities, None)
        assert heard["audit events"] == (report.audit_events, None)
    finally:
        await vectors.close()
        await dst.close()
        await src.close()
