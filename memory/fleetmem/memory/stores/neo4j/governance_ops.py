"""Neo4j implementation of the governance half of the GraphStore port: audit queries,
usage per author, and conflicts between agents' facts.

A conflict is a `(:Conflict)` node with `(:Conflict)-[:DISPUTES {side}]->(:Memory)` edges
to the memories of its two claims. "At most one open conflict per pair key" is kept by
locking a `(:ConflictPair {key})` node before looking for an open conflict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fleetmem.memory.domain.conflicts import (
    Claim,
    ConflictKind,
    ConflictRecord,
    ConflictStatus,
    Resolution,
)
from fleetmem.memory.domain.models import AuditEvent
from fleetmem.memory.ports import AuditQuery
from fleetmem.memory.stores.neo4j.audit_ops import append_audit_tx
from fleetmem.memory.stores.neo4j.codec import Row, audit_of, from_db_req, to_db
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows, run


def _claim_json(c: Claim) -> str:
    return json.dumps({"value": c.value, "text": c.text, "agent_id": c.agent_id,
                       "at": c.at.isoformat(), "memory_id": c.memory_id,
                       "relation_id": c.relation_id})


def _claim(raw: str) -> Claim:
    d: dict[str, Any] = json.loads(raw)
    return Claim(value=d["value"], text=d["text"], agent_id=d["agent_id"],
                 at=datetime.fromisoformat(d["at"]), memory_id=d["memory_id"],
                 relation_id=d["relation_id"])


def _resolution_json(r: Resolution) -> str:
    return json.dumps({"keep": r.keep, "resolved_by": r.resolved_by,
                       "resolved_at": r.resolved_at.isoformat(), "on_behalf_of": r.on_behalf_of,
                       "workflow_id": r.workflow_id, "note": r.note})


def _resolution(raw: str | None) -> Resolution | None:
    if raw is None:
        return None
    d: dict[str, Any] = json.loads(raw)
    return Resolution(keep=d["keep"], resolved_by=d["resolved_by"],
                      resolved_at=datetime.fromisoformat(d["resolved_at"]),
                      on_behalf_of=d["on_behalf_of"], workflow_id=d["workflow_id"],
                      note=d["note"])


def _conflict_props(k: ConflictRecord) -> Row:
    return {"id": k.id, "namespace": k.namespace, "kind": k.kind.value, "subject": k.subject,
            "attribute": k.attribute, "pair_key": k.pair_key, "a_claim": _claim_json(k.a),
            "b_claim": _claim_json(k.b), "a_memory_id": k.a.memory_id,
            "b_memory_id": k.b.memory_id, "created_at": to_db(k.created_at),
            "workflow_id": k.workflow_id, "status": k.status.value,
            "resolution": None if k.resolution is None else _resolution_json(k.resolution)}


def _conflict_of(p: Row) -> ConflictRecord:
    return ConflictRecord(
        id=p["id"], namespace=p["namespace"], kind=ConflictKind(p["kind"]),
        subject=p["subject"], attribute=p["attribute"], a=_claim(p["a_claim"]),
        b=_claim(p["b_claim"]), created_at=from_db_req(p["created_at"]),
        pair_key=p["pair_key"], workflow_id=p.get("workflow_id"),
        status=ConflictStatus(p["status"]), resolution=_resolution(p.get("resolution")))


_CONFLICT = "c {.*, _lock: null}"


class Neo4jGovernanceOps:
    """Audit queries, usage per author and conflicts."""

    db: Neo4jConnection

    async def audit_query(self, query: AuditQuery, limit: int) -> list[AuditEvent]:
        where = ["a.seq > $after"]
        params: Row = {"after": query.after_seq, "limit": limit}
        if query.visible_namespaces is not None:
            where.append("(a.namespace IN $visible_ns OR a.agent_id = $visible_agent)")
            params |= {"visible_ns": list(query.visible_namespaces),
                       "visible_agent": query.visible_agent}
        for field in ("agent_id", "workflow_id", "operation", "outcome"):
            value = getattr(query, field)
            if value is not None:
                where.append(f"a.{field} = ${field}")
                params[field] = value
        if query.target_id is not None:
            where.append("$target_id IN a.target_ids")
            params["target_id"] = query.target_id
        order = "DESC" if query.newest_first else "ASC"

        async def fn(tx: Tx) -> list[AuditEvent]:
            found = await rows(tx, f"MATCH (a:AuditEvent) WHERE {' AND '.join(where)} "
                                   f"RETURN a {{.*}} AS a ORDER BY a.seq {order} LIMIT $limit",
                               **params)
            return [audit_of(r["a"]) for r in found]
        return await self.db.read(fn)

    async def usage_by_author(self, namespaces: Sequence[str] | None
                              ) -> dict[str, tuple[int, int]]:
        scope = "" if namespaces is None else " AND m.namespace IN $ns"

        async def fn(tx: Tx) -> dict[str, tuple[int, int]]:
            found = await rows(tx, f"MATCH (m:Memory) WHERE m.commit_state = 'committed'{scope} "
                                   "RETURN m.created_by AS by, count(*) AS n, "
                                   "sum(coalesce(m.text_bytes, size(m.text))) AS b",
                               ns=list(namespaces or ()))
            return {r["by"]: (int(r["n"]), int(r["b"])) for r in found}
        if namespaces is not None and not namespaces:
            return {}
        return await self.db.read(fn)

    async def create_conflict(self, conflict: ConflictRecord,
                              audit: Sequence[AuditEvent]) -> ConflictRecord:
        async def fn(tx: Tx) -> ConflictRecord:
            await run(tx, "MERGE (p:ConflictPair {key: $key}) SET p._lock = true",
                      key=conflict.pair_key)
            found = await rows(tx, f"MATCH (c:Conflict {{pair_key: $key}}) "
                                   f"WHERE c.status = 'open' RETURN {_CONFLICT} AS c LIMIT 1",
                               key=conflict.pair_key)
            if not found:
                await run(tx, """
                    CREATE (c:Conflict) SET c = $props
                    WITH c
                    UNWIND [['a', $props.a_memory_id], ['b', $props.b_memory_id]] AS side
                    OPTIONAL MATCH (m:Memory {id: side[1]})
                    FOREACH (x IN CASE WHEN m IS NULL THEN [] ELSE [m] END |
                        CREATE (c)-[:DISPUTES {side: side[0]}]->(x))
                    """, props=_conflict_props(conflict))
                await append_audit_tx(tx, audit)
            await run(tx, "MATCH (p:ConflictPair {key: $key}) REMOVE p._lock",
                      key=conflict.pair_key)
            return _conflict_of(found[0]["c"]) if found else conflict
        return await self.db.write(fn)

    async def list_conflicts(self, namespaces: Sequence[str], *,
                             status: ConflictStatus | None = None,
                             conflict_ids: Sequence[str] = (), memory_ids: Sequence[str] = (),
                             limit: int = 100) -> list[ConflictRecord]:
        where = ["c.namespace IN $ns"]
        params: Row = {"ns": list(namespaces), "limit": limit}
        if status is not None:
            where.append("c.status = $status")
            params["status"] = status.value
        if conflict_ids:
            where.append("c.id IN $ids")
            params["ids"] = list(conflict_ids)
        if memory_ids:
            where.append("(c.a_memory_id IN $mids OR c.b_memory_id IN $mids)")
            params["mids"] = list(memory_ids)

        async def fn(tx: Tx) -> list[ConflictRecord]:
            found = await rows(tx, f"MATCH (c:Conflict) WHERE {' AND '.join(where)} "
                                   f"RETURN {_CONFLICT} AS c ORDER BY c.created_at, c.id "
                                   "LIMIT $limit", **params)
            return [_conflict_of(r["c"]) for r in found]
        if not namespaces:
            return []
        return await self.db.read(fn)

    async def resolve_conflict(self, conflict_id: str, resolution: Resolution,
                               audit: Sequence[AuditEvent]) -> bool:
        async def fn(tx: Tx) -> bool:
            await run(tx, "MATCH (c:Conflict {id: $id}) SET c._lock = true", id=conflict_id)
            found = await rows(tx, "MATCH (c:Conflict {id: $id}) RETURN c.status AS status",
                               id=conflict_id)
            if not found:
                return False
            is_open = bool(found[0]["status"] == ConflictStatus.OPEN.value)
            await run(tx, "MATCH (c:Conflict {id: $id}) "
                          "SET c.status = CASE WHEN $open THEN 'resolved' ELSE c.status END, "
                          "c.resolution = CASE WHEN $open THEN $resolution ELSE c.resolution END "
                          "REMOVE c._lock", id=conflict_id, open=is_open,
                      resolution=_resolution_json(resolution))
            if is_open:
                await append_audit_tx(tx, audit)
            return is_open
        return await self.db.write(fn)
