"""Issue 18, Deliver 4 on real stores (SQLite, and Neo4j where marked): dedup never merges
two speakers' or two authors' words, and memories link (and create) the entities their
plain text names, so the graph leg reaches memories not written through create_entities."""

from __future__ import annotations

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.names import mentions, names_in, speaker_of
from fleetmem.memory.services.graph.entities import EntitySpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from tests.conftest import ServiceFactory
from tests.contract.conftest import GRAPH_BACKENDS
from tests.contract.test_service_on_neo4j import neo4j_graph

ALICE = Caller("alice")
BOB = Caller("bob")


async def _service(backend: str, make_service: ServiceFactory, request: pytest.FixtureRequest,
                   **overrides: object) -> MemoryService:
    extra = {"graph": neo4j_graph(request.getfixturevalue("neo4j_clean"))} \
        if backend == "neo4j" else {}
    return await make_service(**extra, **overrides)


def test_names_from_text_rules() -> None:
    assert speaker_of("Joanna: Bye Nate!") == "Joanna"
    assert speaker_of("Note: the deploy host is alpha") is None  # a label, not a person
    assert speaker_of("the host: alpha") is None
    found = names_in("Melanie: Thanks Caroline! New York is big. I met John Smith in New "
                     "York City's park on Monday.", 8)
    assert [(n.name, n.entity_type) for n in found] == [
        ("Melanie", "person"), ("Caroline", "unknown"), ("John Smith", "unknown"),
        ("New York City", "unknown")]  # "New York" starts a sentence; Monday is a date
    assert [n.name for n in names_in("We moved from Postgres to MySQL.", 1)] == ["Postgres"]
    assert mentions("Pride month", "pride month", "Pride")
    assert not mentions("I take pride in it", "i take pride in it", "Pride")
    assert mentions("I take pride in it", "i take pride in it", "Pride", strict=False)
    assert mentions("ask clara fischer", "ask clara fischer", "Clara Fischer")


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_dedup_never_merges_speakers_or_authors(
        backend: str, make_service: ServiceFactory, request: pytest.FixtureRequest) -> None:
    service = await _service(backend, make_service, request)
    ns = "team:atlas"
    first = await service.remember(ALICE, MemoryInput(text="Joanna: Bye Nate!", namespace=ns))
    other = await service.remember(ALICE, MemoryInput(text="Nate: Bye Joanna!", namespace=ns))
    assert not other.deduplicated and other.id != first.id
    again = await service.remember(ALICE, MemoryInput(text="Joanna: bye Nate", namespace=ns))
    assert again.deduplicated and again.id == first.id  # same speaker, same words
    # the same text from another agent, or for another person, is that author's claim
    fact = "The release train for project Orion leaves every second Thursday"
    a = await service.remember(ALICE, MemoryInput(text=fact, namespace=ns))
    b = await service.remember(BOB, MemoryInput(text=fact, namespace=ns))
    assert not b.deduplicated and b.id != a.id
    for_dana = await service.remember(Caller("alice", on_behalf_of="human:dana"),
                                      MemoryInput(text=fact, namespace=ns))
    assert not for_dana.deduplicated and for_dana.id not in (a.id, b.id)
    assert (await service.remember(BOB, MemoryInput(text=fact, namespace=ns))).id == b.id
    assert (await service.remember(ALICE, MemoryInput(text=fact + ".", namespace=ns))).id == a.id


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_memories_create_and_link_the_entities_their_text_names(
        backend: str, make_service: ServiceFactory, request: pytest.FixtureRequest) -> None:
    service = await _service(backend, make_service, request)
    ns = "team:atlas"
    await service.create_entities(ALICE, [EntitySpec("Payments", "service")], namespace=ns)
    await service.create_entities(ALICE, [EntitySpec("Sweden", "place")])  # agent:alice
    turn = await service.remember(ALICE, MemoryInput(
        text="Caroline: I went to the LGBTQ support group with Melanie, then we "
             "talked about Sweden and the payments queue.", namespace=ns))
    graph = await service.read_graph(ALICE, [ns], limit=50)
    kinds = {e.name: (e.entityType, e.tags) for e in graph.entities}
    assert kinds["Caroline"] == ("person", ["from-text"])
    assert kinds["Melanie"] == ("unknown", ["from-text"])
    assert kinds["LGBTQ"] == ("unknown", ["from-text"])
    assert kinds["Payments"] == ("service", [])  # known: linked, not created again
    # namespaces are a boundary: alice's private "Sweden" is not used, a new one is made
    assert kinds["Sweden"] == ("unknown", ["from-text"])
    assert [e.entityType for e in (await service.read_graph(ALICE, ["agent:alice"])).entities
            ] == ["place"]
    stored = await service.get(ALICE, turn.id)
    assert {"Caroline", "Melanie", "LGBTQ", "Payments", "Sweden"} <= set(stored.entities)
    events = await service.operator.audit_query(operation="create_entities")
    assert any(e.detail == "from memory text" and e.namespace == ns and len(e.target_ids) == 4
               for e in events)

    # the graph leg finds the memory through the entity (a later memory too)
    later = await service.remember(BOB, MemoryInput(
        text="Melanie: Caroline painted a lake at sunrise.", namespace=ns))
    hits = await service.recall(ALICE, RecallQuery(query="what did Caroline paint?", k=5,
                                                   namespaces=[ns]))
    by_id = {h.memory.id: h for h in hits.hits}
    assert "graph" in by_id[later.id].sources and "graph" in by_id[turn.id].sources
    # a one-word name found in text is matched later only where it is capitalised
    plain = await service.remember(ALICE, MemoryInput(
        text="we will sweden the pipeline and melanie the cache tomorrow", namespace=ns))
    assert (await service.get(ALICE, plain.id)).entities == []
    assert await service.operator.verify_audit() is None


async def test_entities_from_text_is_a_setting_and_bounded(make_service: ServiceFactory) -> None:
    off = await make_service(limits={"entities_from_text": False})
    await off.create_entities(ALICE, [EntitySpec("Atlas", "team")])
    m = await off.remember(ALICE, MemoryInput(text="Nate: Atlas met Joanna in Paris."))
    assert (await off.get(ALICE, m.id)).entities == ["Atlas"]  # known ones only
    assert [e.name for e in (await off.read_graph(ALICE)).entities] == ["Atlas"]


async def test_entities_from_text_are_bounded_per_memory(make_service: ServiceFactory) -> None:
    service = await make_service(limits={"max_text_entities": 2})
    m = await service.remember(ALICE, MemoryInput(
        text="Nate: we met Joanna, Paris, Berlin, Oslo and Rome."))
    assert (await service.get(ALICE, m.id)).entities == ["Nate", "Joanna"]
    assert sorted(e.name for e in (await service.read_graph(ALICE)).entities) == [
        "Joanna", "Nate"]


async def test_hop_reaches_a_turn_linked_only_by_its_speaker(service: MemoryService) -> None:
    """Nobody called create_entities for Joanna: her turn names her as its speaker, and a
    relation to her (made later) carries the hop to it."""
    turns = ["Joanna: I am based in Tallinn these days, near the old harbour.",
             "Nate: the ledger-api stores its data in Postgres.",
             "Nate: the ledger-api listens on port 7412 in production.",
             "Nate: the ledger-api is written in Kotlin."]
    await service.remember_batch(ALICE, [MemoryInput(text=t) for t in turns])
    await service.create_entities(ALICE, [EntitySpec("ledger-api", "service")])
    await service.relate(ALICE, "ledger-api", "owned_by", "Joanna")
    res = await service.recall(ALICE, RecallQuery(
        query="Where is the person who owns ledger-api located?", k=5))
    top = {h.memory.text: h for h in res.hits}
    assert "hop" in top[turns[0]].sources


@pytest.mark.parametrize("backend", GRAPH_BACKENDS)
async def test_a_correction_links_the_names_of_its_new_text(
        backend: str, make_service: ServiceFactory, request: pytest.FixtureRequest) -> None:
    """`correct` links its new text's names the way a write does (and creates the new
    ones); a name only the old text named is dropped, one the writer gave is kept."""
    service = await _service(backend, make_service, request)
    ns = "team:atlas"
    await service.create_entities(ALICE, [EntitySpec("Atlas", "team")], namespace=ns)
    first = await service.remember(ALICE, MemoryInput(
        text="Nate: We met Joanna in Oslo last spring.", namespace=ns, entities=["Atlas"]))
    assert {"Atlas", "Nate", "Joanna", "Oslo"} <= set((await service.get(ALICE, first.id)).entities)
    fixed = await service.correct(ALICE, first.id, "Nate: We met Joanna in Bergen last spring.")
    stored = await service.get(ALICE, fixed.id)
    assert {"Atlas", "Nate", "Joanna", "Bergen"} <= set(stored.entities)
    assert "Oslo" not in stored.entities
    kinds = {e.name: (e.entityType, e.tags)
             for e in (await service.read_graph(ALICE, [ns], limit=50)).entities}
    assert kinds["Bergen"] == ("unknown", ["from-text"])
    made = [e for e in await service.operator.audit_query(operation="create_entities")
            if e.detail == "from memory text"]
    assert sorted(len(e.target_ids) for e in made) == [1, 3]  # Nate, Joanna, Oslo; Bergen

    hits = await service.recall(ALICE, RecallQuery(query="Who was in Bergen?", k=5,
                                                   namespaces=[ns]))
    assert "graph" in {h.memory.id: h for h in hits.hits}[fixed.id].sources
    await service.relate(ALICE, "ledger-api", "hosted_in", "Bergen", namespace=ns)
    hits = await service.recall(ALICE, RecallQuery(
        query="What happened where ledger-api is hosted?", k=5, namespaces=[ns]))
    assert "hop" in {h.memory.id: h for h in hits.hits}[fixed.id].sources
    assert await service.operator.verify_audit() is None
