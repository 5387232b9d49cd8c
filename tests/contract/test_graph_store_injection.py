"""Injection contract: hostile names, relation types and texts are stored verbatim on every
graph store, and nothing else changes (no statement is ever built from user text)."""

from __future__ import annotations

from dataclasses import replace

from fleetmem.memory.domain.models import Observation
from fleetmem.memory.ports import EntityRef, GraphStore
from tests.contract.values import ALICE, TEAM, at, ent, ev, flt, mem, put, rel

HOSTILE = [
    "Robert'); DROP TABLE memories;--",
    'say "hi" \\" and \'bye\'',
    "`Entity` with `backticks`",
    "x})-[:RELATES]->(y) DETACH DELETE n //",
    "}) MATCH (n) DETACH DELETE n RETURN 1 //",
    "$ns {namespace: 'global'} :Memory",
    "*:* OR text:\"a\" AND NOT \\ ~ ^2",
    "%_ LIKE '%' ESCAPE '\\'",
]


async def test_hostile_text_is_stored_verbatim_and_changes_nothing_else(
        graph: GraphStore) -> None:
    await graph.create_entities([ent("Safe", observations=("untouched",)), ent("Other", TEAM)])
    await graph.create_relations([rel("Safe", "Safe", "self")])
    [safe] = await put(graph, mem("a safe memory about Safe", entities=("Safe",)))
    before = await graph.stats([ALICE, TEAM])

    entities = [ent(h, entity_type=h, observations=(h,), aliases=(h + " alias",), tags=(h,))
                for h in HOSTILE]
    assert await graph.create_entities(entities) == entities
    relations = [rel(HOSTILE[i], HOSTILE[(i + 1) % len(HOSTILE)], h)
                 for i, h in enumerate(HOSTILE)]
    assert await graph.create_relations(relations) == relations
    for h in HOSTILE:
        added = await graph.add_observations(EntityRef(ALICE, h),
                                             [Observation(h + " again", "alice", at(1))], at(1))
        assert added is not None and [o.text for o in added] == [h + " again"]
    stored = await put(graph, *[mem(h, tags=(h,), entities=(h,)) for h in HOSTILE], seed=10)
    await graph.append_audit([replace(ev(h, ALICE), detail=h) for h in HOSTILE])

    page = await graph.open_nodes([ALICE], HOSTILE)
    assert sorted(e.name for e in page.entities) == sorted(HOSTILE)
    for e in page.entities:
        assert e.entity_type == e.name and e.tags == (e.name,)
        assert [o.text for o in e.observations] == [e.name, e.name + " again"]
    assert sorted(r.relation_type for r in page.relations) == sorted(HOSTILE)
    got = await graph.get_memories([m.id for m in stored], [ALICE])
    assert [m.text for m in got] == HOSTILE and all(m.tags == (m.text,) for m in got)
    details = [e.detail for e in await graph.audit_events(None, 0, 1000)][-len(HOSTILE):]
    assert details == HOSTILE
    for h in HOSTILE:
        await graph.keyword_search(h, flt(), 5)
        assert h in [e.name for e in await graph.search_nodes([ALICE], h, 50)]
        assert h in [e.name for e in await graph.entities_in_text([ALICE], f"about {h} !", 50)]
        assert await graph.memories_mentioning([h], flt(), 50)
        await graph.relations_of([ALICE], [h], None)
        await graph.find_by_hash(ALICE, h)
        await graph.get_idempotent(h, h)

    after = await graph.stats([ALICE, TEAM])
    assert after[1] == before[1]
    assert after[0].entities == before[0].entities + len(HOSTILE)
    assert after[0].relations == before[0].relations + len(HOSTILE)
    assert after[0].memories_by_status["active"] == \
        before[0].memories_by_status["active"] + len(HOSTILE)
    assert await graph.get_memories([safe.id], [ALICE]) == [safe]
    [kept] = (await graph.open_nodes([ALICE], ["Safe"])).entities
    assert [o.text for o in kept.observations] == ["untouched"]
    assert len((await graph.open_nodes([TEAM], ["Other"])).entities) == 1
    assert [r.relation_type for r in await graph.relations_of([ALICE], ["Safe"], None)] == \
        ["self"]
