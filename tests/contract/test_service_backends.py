"""Service-level checks across backends: the same recall over the same data ranks the
same on SQLite and Neo4j (and the dense leg the same with vectors on Qdrant Edge and in
Neo4j), and hostile input is stored verbatim through the service."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import GraphSettings, VectorSettings
from tests.conftest import ManualClock, ServiceFactory
from tests.contract.conftest import GRAPH_BACKENDS
from tests.contract.test_graph_store_injection import HOSTILE
from tests.contract.test_service_on_neo4j import neo4j_graph
from tests.neo4j_fixtures import Neo4jTarget

ALICE = Caller("alice", workflow_id="wf-x")

FACTS = [
    "The payments service is owned by team Atlas",
    "Payments deploys go out every Tuesday after the change review",
    "The API gateway runs on port 9090 behind the load balancer",
    "Dana prefers short design docs with a decision log",
    "The billing database is PostgreSQL 16 on a dedicated host",
    "Incident 4721: the payments queue backed up for two hours",
    "Use feature flags for every risky rollout",
    "The search cluster is rebuilt nightly from the graph",
    "Team Zeus owns the search cluster and its alerts",
    "The on-call rotation for Atlas changes every Monday",
    "Kafka retention for the orders topic is seven days",
    "Design reviews happen on Thursdays in the big room",
]
QUERIES = ["who owns payments?", "when do payments deploys happen", "search cluster owner",
           "what database does billing use", "payments incident queue", "on-call for Atlas",
           "gateway port"]


async def fill(service: MemoryService, clock: ManualClock) -> None:
    """The same writes, in the same order, at the same instants."""
    await service.create_entities(ALICE, [EntitySpec("Atlas", "team"), EntitySpec("Zeus", "team"),
                                          EntitySpec("Payments", "service",
                                                     ["handles card payments"])])
    clock.advance(minutes=3)
    await service.create_relations(ALICE, [RelationSpec("Atlas", "Payments", "owns")])
    for text in FACTS:
        clock.advance(minutes=7)
        await service.remember(ALICE, MemoryInput(text=text, importance=0.5))


@pytest.mark.neo4j
async def test_same_recall_top_results_on_sqlite_and_neo4j(
        make_service: ServiceFactory, neo4j_clean: object, tmp_path: Path) -> None:
    runs: dict[str, list[list[str]]] = {}
    for backend in ("sqlite", "neo4j"):
        clock = ManualClock()
        extra = {"graph": neo4j_graph(neo4j_clean)} if backend == "neo4j" else {}  # type: ignore[arg-type]
        service = await make_service(data_dir=tmp_path / backend, clock=clock, **extra)
        await fill(service, clock)
        runs[backend] = []
        for query in QUERIES:
            clock.advance(minutes=1)
            result = await service.recall(ALICE, RecallQuery(query=query, k=5))
            await service.flush()
            runs[backend].append([h.memory.text for h in result.hits])
    # The dense tier is the same engine; keyword scores come from FTS5 BM25 and Lucene
    # BM25, which normalise document length and rare-term weight differently, so fillers
    # far below the relevant hits (near-ties, 1e-5 apart) may swap places. The top hits
    # must be the same.
    for query, lite, neo in zip(QUERIES, runs["sqlite"], runs["neo4j"], strict=True):
        assert lite[:2] == neo[:2], query
    tops = {query: hits[0] for query, hits in zip(QUERIES, runs["neo4j"], strict=True)}
    assert tops["when do payments deploys happen"] == FACTS[1]
    assert tops["search cluster owner"] == FACTS[8]
    assert tops["gateway port"] == FACTS[2]


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_hostile_input_through_the_service_is_stored_verbatim(
        backend: str, make_service: ServiceFactory, request: pytest.FixtureRequest) -> None:
    extra = {"graph": neo4j_graph(request.getfixturevalue("neo4j_clean"))} \
        if backend == "neo4j" else {}
    service = await make_service(**extra)
    await service.create_entities(ALICE, [EntitySpec("Safe", "thing", ["untouched"])])
    keep = await service.remember(ALICE, MemoryInput(text="a safe memory", namespace="global"))
    before = {v.namespace: v for v in (await service.stats(ALICE)).namespaces}

    await service.create_entities(ALICE, [EntitySpec(h, h, [h]) for h in HOSTILE])
    await service.create_relations(ALICE, [RelationSpec(h, HOSTILE[i - 1], h)
                                           for i, h in enumerate(HOSTILE)])
    texts = [f"Incident report {i} quotes the string {h} from the logs"
             for i, h in enumerate(HOSTILE)]
    written = [await service.remember(ALICE, MemoryInput(text=t, tags=[h]))
               for t, h in zip(texts, HOSTILE, strict=True)]
    assert not any(w.deduplicated for w in written)
    ids = [w.id for w in written]
    graph = await service.open_nodes(ALICE, HOSTILE)
    assert sorted(e.name for e in graph.entities) == sorted(HOSTILE)
    assert sorted(r.relationType for r in graph.relations) == sorted(HOSTILE)
    assert [(await service.get(ALICE, i)).text for i in ids] == texts
    for h in HOSTILE:
        await service.recall(ALICE, RecallQuery(query=h))
        assert h in [e.name for e in (await service.search_nodes(ALICE, h)).entities]

    after = {v.namespace: v for v in (await service.stats(ALICE)).namespaces}
    assert after["global"] == before["global"]
    # the texts' capitalised words became entities too (issue 18), stored as found
    from_text = [e.name for e in (await service.read_graph(ALICE, ["agent:alice"], None,
                                                           500)).entities
                 if e.tags == ["from-text"]]
    assert all(all(w in " ".join(texts) for w in n.split()) for n in from_text)
    assert after["agent:alice"].entities == \
        before["agent:alice"].entities + len(HOSTILE) + len(from_text)
    assert (await service.get(ALICE, keep.id)).text == "a safe memory"
    [safe] = (await service.open_nodes(ALICE, ["Safe"])).entities
    assert safe.observations == ["untouched"]
    assert await service.operator.verify_audit() is None


@pytest.mark.neo4j
async def test_dense_recall_is_the_same_with_vectors_in_neo4j(
        make_service: ServiceFactory, neo4j_server: Neo4jTarget, tmp_path: Path) -> None:
    """The same writes with vectors on Qdrant Edge and on Neo4j's vector index (the graph
    on SQLite both times): the dense leg alone ranks the same memories in the same order
    with the same cosine scores."""
    runs: dict[str, list[list[tuple[str, float]]]] = {}
    for backend in ("edge", "neo4j"):
        clock = ManualClock()
        vector = VectorSettings(backend=backend,  # type: ignore[arg-type]
                                collection=f"fleetmem_test_{uuid.uuid4().hex[:12]}")
        service = await make_service(data_dir=tmp_path / backend, clock=clock, vector=vector,
                                     graph=GraphSettings(neo4j_uri=neo4j_server.uri,
                                                         neo4j_user=neo4j_server.user,
                                                         neo4j_password=neo4j_server.password))
        await fill(service, clock)
        runs[backend] = []
        for query in QUERIES:
            result = await service.recall(ALICE, RecallQuery(query=query, k=5,
                                                             modes=frozenset({"dense"})))
            runs[backend].append([(h.memory.text, h.why.get("dense", 0.0)) for h in result.hits])
    for query, edge, neo in zip(QUERIES, runs["edge"], runs["neo4j"], strict=True):
        assert [t for t, _ in edge] == [t for t, _ in neo], (query, edge, neo)
        assert [s for _, s in edge] == pytest.approx([s for _, s in neo], abs=1e-4), query
