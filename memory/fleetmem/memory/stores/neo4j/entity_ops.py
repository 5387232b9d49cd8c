"""Neo4j implementation of the entity/relation half of the GraphStore port.

Relations are `(:Entity)-[:RELATES]->(:Entity)` with the user's relation type stored as
the `relation_type` property, so user text never becomes a relationship type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fleetmem.memory.domain.models import Entity, GraphPage, Observation, Relation
from fleetmem.memory.domain.text import decode_cursor, encode_cursor, occurs, word_starts
from fleetmem.memory.ports import EntityRef
from fleetmem.memory.stores.neo4j.codec import (
    Row,
    entity_of,
    entity_props,
    lowered,
    observation_lists,
    relation_of,
    relation_props,
    to_db,
    unique_observations,
)
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows, run
from fleetmem.memory.stores.neo4j.schema import MENTIONS_INDEX
from fleetmem.memory.stores.neo4j.search_ops import lucene_term

_ENTITY = "e {.*, _lock: null}"


async def _lock_entity(tx: Tx, ref: EntityRef) -> Row | None:
    """Write-lock an entity, then read it fresh (None when it does not exist)."""
    await run(tx, "MATCH (e:Entity {namespace: $ns, name_lower: $nl}) SET e._lock = true",
              ns=ref.namespace, nl=ref.name.lower())
    found = await rows(tx, f"MATCH (e:Entity {{namespace: $ns, name_lower: $nl}}) "
                           f"RETURN {_ENTITY} AS e", ns=ref.namespace, nl=ref.name.lower())
    return found[0]["e"] if found else None


async def _relations_from(tx: Tx, entities: Sequence[Entity]) -> list[Relation]:
    """Current relations leaving these entities, grouped per entity in the given order."""
    ids = [e.id for e in entities]
    found = await rows(tx, "UNWIND $ids AS id MATCH (e:Entity {id: id})-[r:RELATES]->() "
                           "WHERE r.valid_to IS NULL RETURN id, r {.*} AS r", ids=ids)
    position = {i: n for n, i in enumerate(ids)}
    found.sort(key=lambda x: (position[x["id"]], x["r"]["relation_type"], x["r"]["to_lower"]))
    return [relation_of(x["r"]) for x in found]


class Neo4jEntityOps:
    """Entities, observations and temporal relations."""

    db: Neo4jConnection

    async def create_entities(self, entities: Sequence[Entity]) -> list[Entity]:
        async def fn(tx: Tx) -> list[Entity]:
            found = await rows(tx, """
                UNWIND $rows AS row
                MERGE (e:Entity {namespace: row.ns, name_lower: row.props.name_lower})
                ON CREATE SET e += row.props
                RETURN row.props.id AS id, e.id = row.props.id AS created
                """, rows=[{"ns": e.namespace, "props": entity_props(e)} for e in entities])
            new_ids = {str(r["id"]) for r in found if r["created"]}
            created = [e for e in entities if e.id in new_ids]
            if not created:
                return created
            await run(tx, "UNWIND $rows AS row MATCH (e:Entity {id: row.id}) "
                          "MERGE (a:Agent {id: row.by}) CREATE (a)-[:WROTE {at: row.at}]->(e)",
                      rows=[{"id": e.id, "by": e.attribution.created_by,
                             "at": to_db(e.attribution.created_at)} for e in created])
            # Link the memories written about these names before the entities existed,
            # found through the index of their mentions (exact lower-cased names), not by
            # reading every memory of the namespace (that scan made each new name cost
            # O(namespace size): ~30 ms a write at 10k memories).
            await run(tx, f"""
                UNWIND $rows AS row
                CALL db.index.fulltext.queryNodes('{MENTIONS_INDEX}', row.query) YIELD node AS m
                WITH row, m WHERE m.namespace = row.ns AND row.name IN m.mentions
                MATCH (e:Entity {{namespace: row.ns, name_lower: row.name}})
                MERGE (m)-[:MENTIONS]->(e)
                """, rows=[{"ns": e.namespace, "name": e.name.lower(),
                            "query": lucene_term(e.name.lower())} for e in created])
            return created
        return await self.db.write(fn)

    async def add_observations(self, ref: EntityRef, observations: Sequence[Observation],
                               at: datetime) -> list[Observation] | None:
        async def fn(tx: Tx) -> list[Observation] | None:
            current = await _lock_entity(tx, ref)
            if current is None:
                return None
            added = unique_observations(observations, current.get("obs_text") or ())
            lists = observation_lists(added)
            await run(tx, """
                MATCH (e:Entity {id: $id})
                SET e.obs_text = coalesce(e.obs_text, []) + $obs_text,
                    e.obs_by = coalesce(e.obs_by, []) + $obs_by,
                    e.obs_at = coalesce(e.obs_at, []) + $obs_at,
                    e.updated_at = CASE WHEN size($obs_text) > 0 THEN $at ELSE e.updated_at END
                REMOVE e._lock
                """, id=current["id"], at=to_db(at), **lists)
            return added
        return await self.db.write(fn)

    async def update_entity(self, entity: Entity) -> None:
        async def fn(tx: Tx) -> None:
            await run(tx, "MATCH (e:Entity {id: $id}) SET e.entity_type = $type, "
                          "e.aliases = $aliases, e.aliases_lower = $aliases_lower, "
                          "e.tags = $tags, e.updated_at = $at",
                      id=entity.id, type=entity.entity_type, aliases=list(entity.aliases),
                      aliases_lower=[a.lower() for a in entity.aliases],
                      tags=list(entity.tags), at=to_db(entity.updated_at))
        await self.db.write(fn)

    async def delete_entities(self, refs: Sequence[EntityRef], at: datetime) -> list[str]:
        async def fn(tx: Tx) -> list[str]:
            deleted: list[str] = []
            for ref in refs:
                found = await rows(tx, "MATCH (e:Entity {namespace: $ns, name_lower: $nl}) "
                                       "WITH e, e.name AS name DETACH DELETE e RETURN name",
                                   ns=ref.namespace, nl=ref.name.lower())
                deleted += [r["name"] for r in found]
            return deleted
        return await self.db.write(fn)

    async def delete_observations(self, ref: EntityRef, observations: Sequence[str],
                                  at: datetime) -> int:
        async def fn(tx: Tx) -> int:
            current = await _lock_entity(tx, ref)
            if current is None:
                return 0
            drop = set(observations)
            texts = current.get("obs_text") or []
            keep = [i for i, t in enumerate(texts) if t not in drop]
            removed = len(texts) - len(keep)
            await run(tx, """
                MATCH (e:Entity {id: $id})
                SET e.obs_text = [i IN $keep | e.obs_text[i]],
                    e.obs_by = [i IN $keep | e.obs_by[i]],
                    e.obs_at = [i IN $keep | e.obs_at[i]],
                    e.updated_at = CASE WHEN $removed > 0 THEN $at ELSE e.updated_at END
                REMOVE e._lock
                """, id=current["id"], keep=keep, removed=removed, at=to_db(at))
            return removed
        if not observations:
            return 0
        return await self.db.write(fn)

    async def create_relations(self, relations: Sequence[Relation]) -> list[Relation]:
        async def fn(tx: Tx) -> list[Relation]:
            created: list[Relation] = []
            for r in relations:
                ends = {"ns": r.namespace, "f": r.from_entity.lower(), "t": r.to_entity.lower()}
                # Lock the source entity so that concurrent duplicates queue up.
                found = await rows(tx, "MATCH (a:Entity {namespace: $ns, name_lower: $f}) "
                                       "MATCH (b:Entity {namespace: $ns, name_lower: $t}) "
                                       "SET a._lock = true RETURN a.id AS id", **ends)
                if not found:
                    continue
                dup = await rows(tx, """
                    MATCH (a:Entity {namespace: $ns, name_lower: $f})-[r:RELATES]->
                          (b:Entity {namespace: $ns, name_lower: $t})
                    WHERE r.relation_type = $type AND r.valid_to IS NULL
                    RETURN count(r) AS n
                    """, type=r.relation_type, **ends)
                if dup[0]["n"] == 0:
                    await run(tx, "MATCH (a:Entity {namespace: $ns, name_lower: $f}) "
                                  "MATCH (b:Entity {namespace: $ns, name_lower: $t}) "
                                  "CREATE (a)-[x:RELATES]->(b) SET x = $props",
                              props=relation_props(r), **ends)
                    created.append(r)
                await run(tx, "MATCH (a:Entity {id: $id}) REMOVE a._lock", id=found[0]["id"])
            return created
        return await self.db.write(fn)

    async def delete_relations(self, relations: Sequence[Relation], at: datetime) -> int:
        async def fn(tx: Tx) -> int:
            n = 0
            for r in relations:
                found = await rows(tx, """
                    MATCH (:Entity {namespace: $ns, name_lower: $f})-[r:RELATES]->
                          (:Entity {namespace: $ns, name_lower: $t})
                    WHERE r.relation_type = $type
                    DELETE r RETURN count(*) AS n
                    """, ns=r.namespace, f=r.from_entity.lower(), t=r.to_entity.lower(),
                                   type=r.relation_type)
                n += int(found[0]["n"])
            return n
        return await self.db.write(fn)

    async def close_relations(self, namespace: str, from_entity: str, relation_type: str,
                              at: datetime) -> int:
        async def fn(tx: Tx) -> int:
            found = await rows(tx, """
                MATCH (:Entity {namespace: $ns, name_lower: $f})-[r:RELATES]->()
                WHERE r.relation_type = $type AND r.valid_to IS NULL
                SET r.valid_to = $at RETURN count(*) AS n
                """, ns=namespace, f=from_entity.lower(), type=relation_type, at=to_db(at))
            return int(found[0]["n"])
        return await self.db.write(fn)

    async def read_graph(self, namespaces: Sequence[str], cursor: str | None,
                         limit: int) -> GraphPage:
        after_ns, after_name = decode_cursor(cursor)

        async def fn(tx: Tx) -> GraphPage:
            found = await rows(tx, f"""
                MATCH (e:Entity) WHERE e.namespace IN $ns AND (e.namespace > $after_ns OR
                    (e.namespace = $after_ns AND e.name_lower > $after_name))
                RETURN {_ENTITY} AS e ORDER BY e.namespace, e.name_lower LIMIT $limit
                """, ns=list(namespaces), after_ns=after_ns, after_name=after_name,
                               limit=limit + 1)
            more = len(found) > limit
            entities = [entity_of(r["e"]) for r in found[:limit]]
            rels = await _relations_from(tx, entities)
            last = entities[-1] if entities else None
            nxt = encode_cursor(last.namespace, last.name.lower()) if more and last else None
            return GraphPage(tuple(entities), tuple(rels), nxt)
        if not namespaces:
            return GraphPage((), ())
        return await self.db.read(fn)

    async def search_nodes(self, namespaces: Sequence[str], query: str,
                           limit: int) -> list[Entity]:
        async def fn(tx: Tx) -> list[Entity]:
            found = await rows(tx, f"""
                MATCH (e:Entity) WHERE e.namespace IN $ns AND (e.name_lower CONTAINS $q
                    OR toLower(e.entity_type) CONTAINS $q
                    OR any(o IN e.obs_text WHERE toLower(o) CONTAINS $q))
                RETURN {_ENTITY} AS e ORDER BY e.namespace, e.name_lower LIMIT $limit
                """, ns=list(namespaces), q=query.lower(), limit=limit)
            return [entity_of(r["e"]) for r in found]
        if not namespaces:
            return []
        return await self.db.read(fn)

    async def open_nodes(self, namespaces: Sequence[str], names: Sequence[str]) -> GraphPage:
        async def fn(tx: Tx) -> GraphPage:
            found = await rows(tx, f"""
                MATCH (e:Entity) WHERE e.namespace IN $ns AND e.name_lower IN $names
                RETURN {_ENTITY} AS e ORDER BY e.namespace, e.name_lower
                """, ns=list(namespaces), names=lowered(names))
            entities = [entity_of(r["e"]) for r in found]
            keys = {(e.namespace, e.name.lower()) for e in entities}
            ordered = sorted(entities, key=lambda e: (e.namespace, e.name.lower()))
            rels = [r for r in await _relations_from(tx, ordered)
                    if (r.namespace, r.to_entity.lower()) in keys]
            return GraphPage(tuple(entities), tuple(rels))
        if not namespaces or not names:
            return GraphPage((), ())
        return await self.db.read(fn)

    async def relations_of(self, namespaces: Sequence[str], names: Sequence[str],
                           as_of: datetime | None) -> list[Relation]:
        valid = "r.valid_to IS NULL" if as_of is None else \
            "r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of)"

        async def fn(tx: Tx) -> list[Relation]:
            found = await rows(tx, f"""
                MATCH (e:Entity)-[r:RELATES]-() WHERE e.namespace IN $ns
                    AND e.name_lower IN $names AND {valid}
                WITH DISTINCT r
                RETURN r {{.*}} AS r ORDER BY r.created_at, r.id
                """, ns=list(namespaces), names=lowered(names), as_of=to_db(as_of))
            return [relation_of(x["r"]) for x in found]
        if not namespaces or not names:
            return []
        return await self.db.read(fn)

    async def entities_in_text(self, namespaces: Sequence[str], text: str,
                               limit: int) -> list[Entity]:
        text_lower = text.lower()
        starts = word_starts(text_lower)

        async def fn(tx: Tx) -> list[Entity]:
            found = await rows(tx, f"""
                MATCH (e:Entity) WHERE e.namespace IN $ns AND ($text CONTAINS e.name_lower
                    OR any(a IN e.aliases_lower WHERE $text CONTAINS a))
                RETURN {_ENTITY} AS e ORDER BY e.namespace, e.name_lower LIMIT $limit
                """, ns=list(namespaces), text=text_lower, limit=limit * 4)
            hits = [r["e"] for r in found if any(occurs(text_lower, t, starts) for t in (
                r["e"]["name"], *(r["e"].get("aliases") or ())))]
            return [entity_of(p) for p in hits[:limit]]
        if not namespaces:
            return []
        return await self.db.read(fn)
