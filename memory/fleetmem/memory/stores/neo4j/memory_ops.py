"""Neo4j implementation of the memory half of the GraphStore port."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from fleetmem.memory.domain.models import AuditEvent, Memory, MemoryStatus
from fleetmem.memory.ports import IdempotencyRecord, MemoryFilter, Vector
from fleetmem.memory.stores.neo4j.audit_ops import append_audit_tx
from fleetmem.memory.stores.neo4j.codec import (
    KEYWORD_CHANGED,
    MEMORY_PROJECTION,
    from_db_req,
    memory_of,
    memory_props,
    memory_where,
    to_db,
    vec_from_db,
)
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows, run
from fleetmem.memory.stores.neo4j.turn_ops import Neo4jTurnOps

DELETE_COUNTED = ("WITH m, m.namespace AS ns DETACH DELETE m WITH ns, count(*) AS gone "
                  "MATCH (d:NamespaceDocs {namespace: ns}) "
                  "SET d.docs = d.docs - gone, d.version = randomUUID()")
"""Deletes the matched memories `m` and takes them off their namespaces' document counts
(a new keyword version: see `KEYWORD_CHANGED`)."""


def namespace_counts(namespaces: Iterable[str]) -> list[dict[str, object]]:
    """How many new memories each namespace gets, for the `NamespaceDocs` counters."""
    return [{"ns": ns, "n": n} for ns, n in Counter(namespaces).items()]


_INDEXABLE = ("MATCH (m:Memory) WHERE m.commit_state = 'committed' "
              "AND m.status IN ['active', 'superseded'] ")


async def insert_memories_tx(tx: Tx, memories: Sequence[Memory],
                             vectors: Sequence[Vector | None],
                             contexts: Mapping[str, str] | None = None) -> None:
    """Create :Memory nodes with their keyword context, provenance, entity and supersede
    links, and count them in their namespaces' `NamespaceDocs`."""
    props = [memory_props(m, v) for m, v in zip(memories, vectors, strict=True)]
    for p in props:
        context = (contexts or {}).get(p["id"])
        if context:
            p["keyword_context"] = context
            p["keyword_length"] += len(context)
    await run(tx, """
        UNWIND $rows AS row
        CREATE (m:Memory) SET m = row
        MERGE (a:Agent {id: row.created_by})
        CREATE (a)-[:WROTE {at: row.created_at}]->(m)
        FOREACH (p IN CASE WHEN row.on_behalf_of IS NULL THEN [] ELSE [row.on_behalf_of] END |
            MERGE (h:Agent {id: p}) CREATE (m)-[:ON_BEHALF_OF]->(h))
        FOREACH (w IN CASE WHEN row.workflow_id IS NULL THEN [] ELSE [row.workflow_id] END |
            MERGE (f:Workflow {id: w}) CREATE (m)-[:PART_OF]->(f))
        WITH count(*) AS created
        UNWIND $counts AS c
        MERGE (d:NamespaceDocs {namespace: c.ns}) ON CREATE SET d.docs = 0
        SET d.docs = d.docs + c.n, d.version = randomUUID()
        """, rows=props, counts=namespace_counts(m.namespace for m in memories))
    links = [{"id": p["id"], "ns": p["namespace"], "name": n} for p in props
             for n in p["mentions"]]
    if links:
        await run(tx, """
            UNWIND $links AS l
            MATCH (m:Memory {id: l.id})
            MATCH (e:Entity {namespace: l.ns, name_lower: l.name})
            MERGE (m)-[:MENTIONS]->(e)
            """, links=links)
    # Correction history as edges, whichever of two versions was inserted first.
    await run(tx, """
        UNWIND $ids AS id
        MATCH (m:Memory {id: id})
        OPTIONAL MATCH (old:Memory {id: m.supersedes})
        OPTIONAL MATCH (newer:Memory {supersedes: m.id})
        FOREACH (o IN CASE WHEN old IS NULL THEN [] ELSE [old] END |
            MERGE (m)-[:SUPERSEDES]->(o))
        FOREACH (n IN CASE WHEN newer IS NULL THEN [] ELSE [newer] END |
            MERGE (n)-[:SUPERSEDES]->(m))
        """, ids=[m.id for m in memories])


async def lock_memories(tx: Tx, ids: Sequence[str]) -> list[dict[str, str]]:
    """Write-lock memories (in id order, against deadlocks), then read their state fresh:
    a concurrent writer's committed change is seen, never overwritten."""
    ordered = sorted(set(ids))
    await run(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) SET m._lock = true",
              ids=ordered)
    return await rows(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) RETURN m.id AS id, "
                          "m.status AS status, m.commit_state AS commit_state", ids=ordered)


async def unlock_memories(tx: Tx, ids: Sequence[str]) -> None:
    """Drop the lock marker written by `lock_memories` (locks end with the transaction)."""
    await run(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) REMOVE m._lock", ids=list(ids))


async def change_status_tx(tx: Tx, ids: Sequence[str], to_status: MemoryStatus,
                           at: datetime, audit: Sequence[AuditEvent],
                           from_statuses: Sequence[str] | None = None) -> list[str]:
    """Move committed memories to `to_status` under their locks; only those currently in
    `from_statuses` (default: any other status) change. Returns the changed ids in input
    order; the audit is written only when something changed."""
    id_list = list(dict.fromkeys(ids))
    state = await lock_memories(tx, id_list)
    accepted = set(from_statuses) if from_statuses is not None else None
    match = {r["id"] for r in state if r["commit_state"] == "committed"
             and (r["status"] in accepted if accepted is not None
                  else r["status"] != to_status.value)}
    changed = [i for i in id_list if i in match]
    if changed:
        await run(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) "
                      "SET m.status = $status, m.updated_at = $at " + KEYWORD_CHANGED,
                  ids=changed, status=to_status.value, at=to_db(at))
        await append_audit_tx(tx, audit)
    await unlock_memories(tx, [r["id"] for r in state])
    return changed


class Neo4jMemoryOps(Neo4jTurnOps):
    """Memories, idempotency records and their links to entities."""

    db: Neo4jConnection

    async def insert_memories(self, memories: Sequence[Memory], vectors: Sequence[Vector],
                              audit: Sequence[AuditEvent] = (),
                              contexts: Mapping[str, str] | None = None) -> None:
        if not memories:
            return

        async def fn(tx: Tx) -> None:
            await insert_memories_tx(tx, memories, list(vectors), contexts)
            await append_audit_tx(tx, audit)
        await self.db.write(fn)

    async def mark_committed(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> None:
        async def fn(tx: Tx) -> None:
            await run(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) "
                          "SET m.commit_state = 'committed' " + KEYWORD_CHANGED, ids=list(ids))
            await append_audit_tx(tx, audit)
        await self.db.write(fn)

    async def delete_pending(self, ids: Sequence[str]) -> None:
        async def fn(tx: Tx) -> None:
            await run(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) "
                          "WHERE m.commit_state = 'pending' " + DELETE_COUNTED, ids=list(ids))
        await self.db.write(fn)

    async def pending_memories(self, limit: int) -> list[tuple[Memory, Vector | None]]:
        async def fn(tx: Tx) -> list[tuple[Memory, Vector | None]]:
            found = await rows(tx, f"MATCH (m:Memory) WHERE m.commit_state = 'pending' "
                                   f"RETURN {MEMORY_PROJECTION} AS m, m.vector AS v "
                                   "ORDER BY m.id LIMIT $limit", limit=limit)
            return [(memory_of(r["m"]), vec_from_db(r["v"])) for r in found]
        return await self.db.read(fn)

    async def get_memories(self, ids: Sequence[str], namespaces: Sequence[str]) -> list[Memory]:
        if not ids or not namespaces:
            return []
        id_list = list(dict.fromkeys(ids))

        async def fn(tx: Tx) -> list[Memory]:
            found = await rows(tx, f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) "
                                   "WHERE m.namespace IN $ns AND m.commit_state = 'committed' "
                                   f"RETURN {MEMORY_PROJECTION} AS m",
                               ids=id_list, ns=list(namespaces))
            by_id = {r["m"]["id"]: memory_of(r["m"]) for r in found}
            return [by_id[i] for i in id_list if i in by_id]
        return await self.db.read(fn)

    async def get_vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        async def fn(tx: Tx) -> dict[str, Vector]:
            found = await rows(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) "
                                   "WHERE m.vector IS NOT NULL RETURN m.id AS id, m.vector AS v",
                               ids=list(dict.fromkeys(ids)))
            out: dict[str, Vector] = {}
            for r in found:
                vec = vec_from_db(r["v"])
                if vec is not None:
                    out[r["id"]] = vec
            return out
        if not ids:
            return {}
        return await self.db.read(fn)

    async def find_by_hash(self, namespace: str, content_hash: str) -> Memory | None:
        async def fn(tx: Tx) -> Memory | None:
            found = await rows(tx, "MATCH (m:Memory) WHERE m.content_hash = $h AND "
                                   "m.namespace = $ns AND m.status = 'active' AND "
                                   f"m.commit_state = 'committed' RETURN {MEMORY_PROJECTION} "
                                   "AS m ORDER BY m.id LIMIT 1", h=content_hash, ns=namespace)
            return memory_of(found[0]["m"]) if found else None
        return await self.db.read(fn)

    async def find_by_hashes(self, namespace: str,
                             content_hashes: Sequence[str]) -> dict[str, str]:
        hashes = list(dict.fromkeys(content_hashes))
        if not hashes:
            return {}

        async def fn(tx: Tx) -> dict[str, str]:
            found = await rows(tx, "MATCH (m:Memory) WHERE m.content_hash IN $hs AND "
                                   "m.namespace = $ns AND m.status = 'active' AND "
                                   "m.commit_state = 'committed' "
                                   "RETURN m.content_hash AS h, min(m.id) AS id",
                               hs=hashes, ns=namespace)
            return {r["h"]: r["id"] for r in found}
        return await self.db.read(fn)

    async def reinforce(self, ids: Sequence[str], at: datetime, count: int = 1) -> None:
        if not ids:
            return

        async def fn(tx: Tx) -> None:
            await run(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) "
                          "SET m.access_count = coalesce(m.access_count, 0) + $count, "
                          "m.last_accessed_at = $at",
                      ids=sorted(set(ids)), count=count, at=to_db(at))
        await self.db.write(fn)

    async def set_status(self, ids: Sequence[str], status: MemoryStatus, at: datetime,
                         audit: Sequence[AuditEvent]) -> list[str]:
        async def fn(tx: Tx) -> list[str]:
            return await change_status_tx(tx, ids, status, at, audit)
        if not ids:
            return []
        return await self.db.write(fn)

    async def supersede(self, old_id: str, new: Memory, vector: Vector, at: datetime,
                        audit: Sequence[AuditEvent]) -> bool:
        async def fn(tx: Tx) -> bool:
            state = await lock_memories(tx, [old_id])
            if not state or state[0]["status"] != "active" \
                    or state[0]["commit_state"] != "committed":
                await unlock_memories(tx, [old_id])
                return False
            await run(tx, "MATCH (m:Memory {id: $old}) SET m.status = 'superseded', "
                          "m.valid_to = $at, m.superseded_by = $new, m.updated_at = $at "
                          "REMOVE m._lock " + KEYWORD_CHANGED, old=old_id, new=new.id,
                      at=to_db(at))
            await insert_memories_tx(tx, [new], [vector])
            await run(tx, "MATCH (n:Memory {id: $new}), (o:Memory {id: $old}) "
                          "MERGE (n)-[:SUPERSEDES]->(o)", new=new.id, old=old_id)
            await append_audit_tx(tx, audit)
            return True
        return await self.db.write(fn)

    async def history(self, memory_id: str, namespaces: Sequence[str]) -> list[Memory]:
        async def fn(tx: Tx) -> list[Memory]:
            chain = {memory_id}
            for key in ("supersedes", "superseded_by"):
                current = memory_id
                while True:
                    found = await rows(tx, f"MATCH (m:Memory {{id: $id}}) RETURN m.{key} AS x",
                                       id=current)
                    nxt = found[0]["x"] if found else None
                    if nxt is None or nxt in chain:
                        break
                    chain.add(nxt)
                    current = nxt
            found = await rows(tx, f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) "
                                   "WHERE m.namespace IN $ns AND m.commit_state = 'committed' "
                                   f"RETURN {MEMORY_PROJECTION} AS m "
                                   "ORDER BY m.valid_from, m.created_at",
                               ids=sorted(chain), ns=list(namespaces))
            return [memory_of(r["m"]) for r in found]
        return await self.db.read(fn)

    async def list_memories(self, flt: MemoryFilter, after_id: str | None,
                            limit: int) -> list[Memory]:
        where, params = memory_where(flt)

        async def fn(tx: Tx) -> list[Memory]:
            found = await rows(tx, f"MATCH (m:Memory) WHERE {where} AND m.id > $after "
                                   f"RETURN {MEMORY_PROJECTION} AS m ORDER BY m.id "
                                   "LIMIT $limit", after=after_id or "", limit=limit, **params)
            return [memory_of(r["m"]) for r in found]
        if not flt.namespaces:
            return []
        return await self.db.read(fn)

    async def count_indexable(self) -> int:
        async def fn(tx: Tx) -> int:
            return int((await rows(tx, _INDEXABLE + "RETURN count(m) AS n"))[0]["n"])
        return await self.db.read(fn)

    async def indexable_ids(self) -> set[str]:
        async def fn(tx: Tx) -> set[str]:
            return {r["id"] for r in await rows(tx, _INDEXABLE + "RETURN m.id AS id")}
        return await self.db.read(fn)

    async def all_namespaces(self) -> list[str]:
        async def fn(tx: Tx) -> list[str]:
            found = await rows(tx, """
                CALL () {
                    MATCH (m:Memory) RETURN DISTINCT m.namespace AS ns
                    UNION MATCH (e:Entity) RETURN DISTINCT e.namespace AS ns
                    UNION MATCH (b:BufferItem) RETURN DISTINCT b.namespace AS ns
                }
                RETURN ns ORDER BY ns
                """)
            return [r["ns"] for r in found]
        return await self.db.read(fn)

    async def purge_memories(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> list[str]:
        async def fn(tx: Tx) -> list[str]:
            state = await lock_memories(tx, ids)
            archived = {r["id"] for r in state if r["status"] == "archived"}
            gone = [i for i in dict.fromkeys(ids) if i in archived]
            if gone:
                await run(tx, "UNWIND $ids AS id MATCH (m:Memory {id: id}) " + DELETE_COUNTED,
                          ids=gone)
                await append_audit_tx(tx, audit)
            await unlock_memories(tx, [r["id"] for r in state if r["id"] not in archived])
            return gone
        if not ids:
            return []
        return await self.db.write(fn)

    async def get_idempotent(self, agent_id: str, key: str) -> IdempotencyRecord | None:
        async def fn(tx: Tx) -> IdempotencyRecord | None:
            found = await rows(tx, "MATCH (i:Idempotency {agent_id: $a, key: $k}) "
                                   "RETURN i {.*} AS i", a=agent_id, k=key)
            if not found:
                return None
            i = found[0]["i"]
            return IdempotencyRecord(agent_id=i["agent_id"], key=i["key"],
                                     operation=i["operation"], response_json=i["response_json"],
                                     created_at=from_db_req(i["created_at"]))
        return await self.db.read(fn)

    async def put_idempotent(self, record: IdempotencyRecord) -> None:
        async def fn(tx: Tx) -> None:
            await run(tx, "MERGE (i:Idempotency {agent_id: $a, key: $k}) ON CREATE SET "
                          "i.operation = $op, i.response_json = $resp, i.created_at = $at",
                      a=record.agent_id, k=record.key, op=record.operation,
                      resp=record.response_json, at=to_db(record.created_at))
        await self.db.write(fn)
