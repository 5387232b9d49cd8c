"""Neo4j implementation of the maintenance half of the GraphStore port (GC system jobs,
job-slot claims and the leases of keyed requests in flight)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from fleetmem.memory.domain.models import AuditEvent, Entity, Memory, MemoryStatus
from fleetmem.memory.stores.neo4j.audit_ops import append_audit_tx
from fleetmem.memory.stores.neo4j.codec import (
    KEYWORD_CHANGED,
    MEMORY_PROJECTION,
    entity_of,
    memory_of,
    to_db,
)
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows, run
from fleetmem.memory.stores.neo4j.memory_ops import (
    change_status_tx,
    lock_memories,
    unlock_memories,
)

_CLAIM_KEEP = timedelta(days=30)
# An entity is an orphan when nothing refers to it (evaluated with `e` as the entity).
_ORPHAN = ("e.updated_at < $before AND size(coalesce(e.obs_text, [])) = 0 "
           "AND NOT EXISTS { (e)-[:RELATES]-() } "
           "AND NOT EXISTS { (e)<-[:MENTIONS]-(:Memory) }")


class Neo4jGcOps:
    """Status compare-and-set, fact closing, orphan entities and job-slot claims."""

    db: Neo4jConnection

    async def transition_status(self, ids: Sequence[str], from_status: MemoryStatus,
                                to_status: MemoryStatus, at: datetime,
                                audit: Sequence[AuditEvent]) -> list[str]:
        id_list = list(dict.fromkeys(ids))

        async def fn(tx: Tx) -> list[str]:
            return await change_status_tx(tx, id_list, to_status, at, audit,
                                          from_statuses=[from_status.value])
        if not id_list:
            return []
        return await self.db.write(fn)

    async def unclosed_memories(self, at: datetime, after_id: str | None,
                                limit: int) -> list[tuple[Memory, str | None]]:
        async def fn(tx: Tx) -> list[tuple[Memory, str | None]]:
            found = await rows(tx, f"""
                MATCH (m:Memory)
                WHERE m.status = 'active' AND m.commit_state = 'committed' AND m.id > $after
                  AND ((m.valid_to IS NOT NULL AND m.valid_to <= $at)
                       OR m.superseded_by IS NOT NULL
                       OR EXISTS {{ MATCH (s:Memory {{supersedes: m.id}})
                                   WHERE s.commit_state = 'committed' }})
                WITH m ORDER BY m.id LIMIT $limit
                CALL (m) {{
                    OPTIONAL MATCH (s:Memory {{supersedes: m.id}})
                    WHERE s.commit_state = 'committed'
                    RETURN s.id AS next ORDER BY s.valid_from, s.id LIMIT 1
                }}
                RETURN {MEMORY_PROJECTION} AS m, coalesce(m.superseded_by, next) AS successor
                ORDER BY m.id
                """, after=after_id or "", at=to_db(at), limit=limit)
            return [(memory_of(r["m"]), r["successor"]) for r in found]
        return await self.db.read(fn)

    async def close_memories(self, closures: Sequence[tuple[str, datetime, str | None]],
                             at: datetime, audit: Sequence[AuditEvent]) -> list[str]:
        async def fn(tx: Tx) -> list[str]:
            state = {r["id"]: r for r in await lock_memories(tx, [c[0] for c in closures])}
            closed: list[str] = []
            for mid, valid_to, successor in closures:
                r = state.get(mid)
                if r is None or r["status"] != "active" or r["commit_state"] != "committed" \
                        or mid in closed:
                    continue
                await run(tx, """
                    MATCH (m:Memory {id: $id})
                    SET m.status = 'superseded', m.valid_to = coalesce(m.valid_to, $valid_to),
                        m.superseded_by = coalesce(m.superseded_by, $successor),
                        m.updated_at = $at
                    WITH m
                    OPTIONAL MATCH (s:Memory {id: m.superseded_by})
                    FOREACH (x IN CASE WHEN s IS NULL THEN [] ELSE [s] END |
                        MERGE (x)-[:SUPERSEDES]->(m))
                    """ + KEYWORD_CHANGED, id=mid, valid_to=to_db(valid_to),
                    successor=successor, at=to_db(at))
                closed.append(mid)
            if closed:
                await append_audit_tx(tx, audit)
            await unlock_memories(tx, list(state))
            return closed
        if not closures:
            return []
        return await self.db.write(fn)

    async def orphan_entities(self, before: datetime, after_id: str | None,
                              limit: int) -> list[Entity]:
        async def fn(tx: Tx) -> list[Entity]:
            found = await rows(tx, f"MATCH (e:Entity) WHERE e.id > $after AND {_ORPHAN} "
                                   "RETURN e {.*, _lock: null} AS e ORDER BY e.id LIMIT $limit",
                               after=after_id or "", before=to_db(before), limit=limit)
            return [entity_of(r["e"]) for r in found]
        return await self.db.read(fn)

    async def delete_orphan_entities(self, ids: Sequence[str], before: datetime,
                                     audit: Sequence[AuditEvent]) -> list[str]:
        id_list = list(dict.fromkeys(ids))

        async def fn(tx: Tx) -> list[str]:
            ordered = sorted(id_list)
            # Lock first: a concurrent relation, mention or observation then either
            # committed before our check (the entity survives) or waits for our delete.
            await run(tx, "UNWIND $ids AS id MATCH (e:Entity {id: id}) SET e._lock = true",
                      ids=ordered)
            found = await rows(tx, f"UNWIND $ids AS id MATCH (e:Entity {{id: id}}) "
                                   f"WHERE {_ORPHAN} DETACH DELETE e RETURN id",
                               ids=ordered, before=to_db(before))
            gone = {r["id"] for r in found}
            await run(tx, "UNWIND $ids AS id MATCH (e:Entity {id: id}) REMOVE e._lock",
                      ids=[i for i in ordered if i not in gone])
            if gone:
                await append_audit_tx(tx, audit)
            return [i for i in id_list if i in gone]
        if not id_list:
            return []
        return await self.db.write(fn)

    async def claim_job_slot(self, job: str, slot_key: str, owner: str, at: datetime) -> bool:
        token = str(uuid.uuid4())

        async def fn(tx: Tx) -> bool:
            found = await rows(tx, """
                MERGE (j:JobSlot {job: $job, slot_key: $slot})
                ON CREATE SET j.owner = $owner, j.claimed_at = $at, j.claim = $token
                RETURN j.claim = $token AS mine
                """, job=job, slot=slot_key, owner=owner, at=to_db(at), token=token)
            if not found[0]["mine"]:
                return False
            await run(tx, "MATCH (j:JobSlot {job: $job}) WHERE j.claimed_at < $old DELETE j",
                      job=job, old=to_db(at - _CLAIM_KEEP))
            return True
        return await self.db.write(fn)

    async def claim_idempotency_key(self, agent_id: str, key: str, holder: str,
                                    at: datetime, until: datetime) -> bool:
        async def fn(tx: Tx) -> bool:
            # MERGE on the unique (agent_id, key) serialises creators; the lock then makes
            # the read of holder and lease see the last committed claim.
            await run(tx, "MERGE (c:IdempotencyClaim {agent_id: $a, key: $k}) "
                          "ON CREATE SET c.holder = $h, c.until = $until "
                          "SET c._lock = true", a=agent_id, k=key, h=holder,
                      until=to_db(until))
            found = await rows(tx, """
                MATCH (c:IdempotencyClaim {agent_id: $a, key: $k})
                WITH c, (c.holder = $h OR c.until < $at) AS free
                SET c.holder = CASE WHEN free THEN $h ELSE c.holder END,
                    c.until = CASE WHEN free THEN $until ELSE c.until END
                REMOVE c._lock
                RETURN free
                """, a=agent_id, k=key, h=holder, at=to_db(at), until=to_db(until))
            return bool(found[0]["free"])
        return await self.db.write(fn)

    async def release_idempotency_key(self, agent_id: str, key: str, holder: str) -> None:
        async def fn(tx: Tx) -> None:
            await run(tx, "MATCH (c:IdempotencyClaim {agent_id: $a, key: $k, holder: $h}) "
                          "DELETE c", a=agent_id, k=key, h=holder)
        await self.db.write(fn)
