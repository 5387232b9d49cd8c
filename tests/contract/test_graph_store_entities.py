"""GraphStore contract, entity and relation half: every test runs on SQLite and Neo4j."""

from __future__ import annotations

from dataclasses import replace

from fleetmem.memory.domain.models import Observation
from fleetmem.memory.ports import EntityRef, GraphStore
from tests.contract.values import ALICE, BOB, TEAM, at, ent, rel


def names(entities: object) -> list[str]:
    return [e.name for e in entities]  # type: ignore[attr-defined]


def triples(relations: object) -> list[tuple[str, str, str]]:
    return [(r.from_entity, r.relation_type, r.to_entity)  # type: ignore[attr-defined]
            for r in relations]  # type: ignore[attr-defined]


async def test_create_entities_skips_existing_names(graph: GraphStore) -> None:
    atlas = ent("Atlas", entity_type="team", observations=("owns payments", "owns payments",
                                                           "on call weekly"),
                aliases=("ATL",), tags=("org",))
    created = await graph.create_entities([atlas, ent("atlas"), ent("Zeus")])
    assert names(created) == ["Atlas", "Zeus"] and created[0] == atlas
    assert await graph.create_entities([ent("ATLAS")]) == []
    assert [e.name for e in await graph.create_entities([ent("Atlas", TEAM)])] == ["Atlas"]
    [got] = (await graph.open_nodes([ALICE], ["atlas"])).entities
    assert got == replace(atlas, observations=atlas.observations[1:])
    assert [o.text for o in got.observations] == ["owns payments", "on call weekly"]


async def test_add_observations_dedups_and_touches_updated_at(graph: GraphStore) -> None:
    await graph.create_entities([ent("Atlas", observations=("owns payments",))])
    new = [Observation("owns billing", "bob", at(5)), Observation("owns payments", "bob", at(5)),
           Observation("owns billing", "bob", at(5))]
    added = await graph.add_observations(EntityRef(ALICE, "ATLAS"), new, at(5))
    assert added == [new[0]]
    assert await graph.add_observations(EntityRef(ALICE, "Atlas"), new[1:2], at(6)) == []
    [got] = (await graph.open_nodes([ALICE], ["Atlas"])).entities
    assert [(o.text, o.created_by) for o in got.observations] == \
        [("owns payments", "alice"), ("owns billing", "bob")]
    assert got.updated_at == at(5)
    assert await graph.add_observations(EntityRef(ALICE, "nobody"), new, at(7)) is None
    assert await graph.add_observations(EntityRef(BOB, "Atlas"), new, at(7)) is None


async def test_update_entity_replaces_type_aliases_tags_only(graph: GraphStore) -> None:
    [atlas] = await graph.create_entities([ent("Atlas", observations=("owns payments",))])
    await graph.update_entity(replace(atlas, entity_type="squad", aliases=("A-Team",),
                                      tags=("x", "y"), updated_at=at(9), observations=()))
    [got] = (await graph.open_nodes([ALICE], ["Atlas"])).entities
    assert (got.entity_type, got.aliases, got.tags, got.updated_at) == \
        ("squad", ("A-Team",), ("x", "y"), at(9))
    assert [o.text for o in got.observations] == ["owns payments"]
    assert names(await graph.entities_in_text([ALICE], "ask the a-team", 5)) == ["Atlas"]


async def test_delete_entities_removes_their_relations(graph: GraphStore) -> None:
    await graph.create_entities([ent("Atlas"), ent("Payments"), ent("Zeus")])
    await graph.create_relations([rel("Atlas", "Payments", "owns"),
                                  rel("Zeus", "Atlas", "reviews")])
    deleted = await graph.delete_entities([EntityRef(ALICE, "atlas"),
                                           EntityRef(ALICE, "ghost")], at(1))
    assert deleted == ["Atlas"]
    page = await graph.read_graph([ALICE], None, 10)
    assert names(page.entities) == ["Payments", "Zeus"] and page.relations == ()
    assert await graph.relations_of([ALICE], ["Atlas"], at(0)) == []


async def test_delete_observations_counts_removed(graph: GraphStore) -> None:
    await graph.create_entities([ent("Atlas", observations=("a", "b", "c"))])
    ref = EntityRef(ALICE, "Atlas")
    assert await graph.delete_observations(ref, ["a", "c", "zzz"], at(3)) == 2
    [got] = (await graph.open_nodes([ALICE], ["Atlas"])).entities
    assert [o.text for o in got.observations] == ["b"] and got.updated_at == at(3)
    assert await graph.delete_observations(ref, [], at(4)) == 0
    assert await graph.delete_observations(EntityRef(ALICE, "ghost"), ["b"], at(4)) == 0


async def test_create_relations_needs_endpoints_and_skips_current_duplicates(
        graph: GraphStore) -> None:
    await graph.create_entities([ent("Atlas"), ent("Payments"), ent("Atlas", TEAM)])
    owns = rel("Atlas", "Payments", "owns")
    created = await graph.create_relations([
        owns, rel("atlas", "PAYMENTS", "owns"), rel("Atlas", "Ghost", "owns"),
        rel("Atlas", "Payments", "operates"), rel("Atlas", "Payments", "owns", TEAM)])
    assert triples(created) == [("Atlas", "owns", "Payments"),
                                ("Atlas", "operates", "Payments")]
    assert created[0] == owns
    await graph.close_relations(ALICE, "Atlas", "owns", at(5))
    again = rel("Atlas", "Payments", "owns", minute=6)
    assert await graph.create_relations([again]) == [again]


async def test_delete_relations_removes_current_and_closed(graph: GraphStore) -> None:
    await graph.create_entities([ent("Atlas"), ent("Payments")])
    await graph.create_relations([rel("Atlas", "Payments", "owns"),
                                  rel("Atlas", "Payments", "operates")])
    await graph.close_relations(ALICE, "Atlas", "owns", at(1))
    await graph.create_relations([rel("Atlas", "Payments", "owns", minute=2)])
    assert await graph.delete_relations([rel("ATLAS", "payments", "owns")], at(3)) == 2
    assert triples(await graph.all_relations(None, 10)) == [("Atlas", "operates", "Payments")]


async def test_close_relations_keeps_history_for_as_of(graph: GraphStore) -> None:
    await graph.create_entities([ent("Dana"), ent("Acme"), ent("Globex")])
    await graph.create_relations([rel("Dana", "Acme", "works_at", minute=0)])
    assert await graph.close_relations(ALICE, "dana", "works_at", at(10)) == 1
    assert await graph.close_relations(ALICE, "dana", "works_at", at(11)) == 0
    await graph.create_relations([rel("Dana", "Globex", "works_at", minute=10)])
    assert triples(await graph.relations_of([ALICE], ["Dana"], None)) == \
        [("Dana", "works_at", "Globex")]
    assert triples(await graph.relations_of([ALICE], ["dana"], at(5))) == \
        [("Dana", "works_at", "Acme")]
    [closed] = [r for r in await graph.all_relations(None, 10) if r.to_entity == "Acme"]
    assert closed.valid_to == at(10)
    assert triples(await graph.relations_of([ALICE], ["Globex"], None)) == \
        [("Dana", "works_at", "Globex")]
    assert await graph.relations_of([BOB], ["Dana"], None) == []


async def test_read_graph_pages_across_namespaces(graph: GraphStore) -> None:
    await graph.create_entities([ent(n) for n in ("delta", "Alpha", "charlie", "Bravo")])
    await graph.create_entities([ent("Echo", TEAM), ent("foxtrot", BOB)])
    await graph.create_relations([rel("Alpha", "Bravo", "knows"), rel("Alpha", "delta", "b_rel"),
                                  rel("charlie", "Alpha", "knows")])
    await graph.close_relations(ALICE, "charlie", "knows", at(1))
    seen: list[str] = []
    rels: list[tuple[str, str, str]] = []
    cursor = None
    for _ in range(10):
        page = await graph.read_graph([ALICE, TEAM], cursor, 2)
        seen += names(page.entities)
        rels += triples(page.relations)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["Alpha", "Bravo", "charlie", "delta", "Echo"]
    assert rels == [("Alpha", "b_rel", "delta"), ("Alpha", "knows", "Bravo")]
    assert (await graph.read_graph([], None, 5)).entities == ()
    assert names((await graph.read_graph([ALICE], "not-a-cursor", 1)).entities) == ["Alpha"]


async def test_search_nodes_matches_name_type_and_observations(graph: GraphStore) -> None:
    await graph.create_entities([
        ent("Payments", entity_type="Service"), ent("Atlas", entity_type="team",
                                                    observations=("Owns the PAYMENTS api",)),
        ent("Zeus", entity_type="person"), ent("50%_off", entity_type="promo")])
    await graph.create_entities([ent("Payments", BOB)])
    assert names(await graph.search_nodes([ALICE], "payments", 10)) == ["Atlas", "Payments"]
    assert names(await graph.search_nodes([ALICE], "SERV", 10)) == ["Payments"]
    assert names(await graph.search_nodes([ALICE], "%_", 10)) == ["50%_off"]
    assert len(await graph.search_nodes([ALICE, BOB], "payments", 10)) == 3
    assert len(await graph.search_nodes([ALICE], "a", 2)) == 2
    assert await graph.search_nodes([], "a", 2) == []


async def test_open_nodes_returns_relations_among_them_only(graph: GraphStore) -> None:
    await graph.create_entities([ent("Atlas"), ent("Payments"), ent("Zeus")])
    await graph.create_relations([rel("Atlas", "Payments", "owns"), rel("Zeus", "Atlas", "leads"),
                                  rel("Payments", "Atlas", "pages")])
    page = await graph.open_nodes([ALICE], ["payments", "ATLAS", "ghost"])
    assert names(page.entities) == ["Atlas", "Payments"]
    assert sorted(triples(page.relations)) == [("Atlas", "owns", "Payments"),
                                               ("Payments", "pages", "Atlas")]
    assert (await graph.open_nodes([BOB], ["Atlas"])).entities == ()


async def test_entities_in_text_matches_whole_words_and_aliases(graph: GraphStore) -> None:
    await graph.create_entities([ent("Al"), ent("Payments API", aliases=("PAPI",)),
                                 ent("Zeus"), ent("Zeus", BOB)])
    assert names(await graph.entities_in_text([ALICE], "also the papi is down", 5)) == \
        ["Payments API"]
    assert names(await graph.entities_in_text([ALICE], "Al said the payments api, Zeus too",
                                              5)) == ["Al", "Payments API", "Zeus"]
    assert names(await graph.entities_in_text([ALICE], "Al and Zeus", 1)) == ["Al"]
    assert await graph.entities_in_text([], "Zeus", 5) == []


async def test_all_relations_pages_by_id(graph: GraphStore) -> None:
    await graph.create_entities([ent(f"e{i}") for i in range(4)])
    made = await graph.create_relations([rel(f"e{i}", f"e{i + 1}", "next") for i in range(3)])
    await graph.close_relations(ALICE, "e0", "next", at(1))
    first = await graph.all_relations(None, 2)
    rest = await graph.all_relations(first[-1].id, 2)
    assert [r.id for r in first + rest] == sorted(r.id for r in made)


async def test_case_folding_is_unicode_aware(graph: GraphStore) -> None:
    await graph.create_entities([ent("Zürich Office", entity_type="Büro",
                                     observations=("Über den Wolken",), aliases=("ÄRZTE-TEAM",))])
    assert names(await graph.search_nodes([ALICE], "über", 5)) == ["Zürich Office"]
    assert names(await graph.search_nodes([ALICE], "BÜRO", 5)) == ["Zürich Office"]
    assert names(await graph.search_nodes([ALICE], "ZÜRICH", 5)) == ["Zürich Office"]
    assert names(await graph.entities_in_text([ALICE], "ask the ärzte-team", 5)) == \
        ["Zürich Office"]
